//! What a node built from a round's rows, kept under the epoch the round had when it was built.
//!
//! The database advances a round's epochs whenever the rows behind a view change (migrations
//! `m20261201_000008_guard_epoch` and `m20261201_000009_agenda_epoch`), and every request reads
//! the round, epochs included, before anything else (or reuses such a read until the next
//! commit, `access::Seats`). A kept value is used only for exactly the epoch it was built at, so
//! a change made through any node retires it at once, and one made straight in an SQLite
//! database by another program within `access::SEAT_TTL`; a value is built from reads made
//! after the round was read, so it is never older than the epoch it is kept under.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Values by key, each with the epoch it was built at. Bounded: when full it starts again
/// empty, which costs one rebuild per key and nothing else.
pub struct Kept<V> {
    capacity: usize,
    kept: Mutex<HashMap<String, (i64, Arc<V>)>>,
}

impl<V> Kept<V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The value kept under `key` if it was built at exactly `epoch`.
    pub fn get(&self, key: &str, epoch: i64) -> Option<Arc<V>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(key)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, value)| Arc::clone(value))
    }

    /// Keeps `value` under `key` unless a value of a later epoch is kept already.
    pub fn put(&self, key: &str, epoch: i64, value: Arc<V>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.get(key).is_some_and(|(at, _)| *at > epoch) {
            return;
        }
        if kept.len() >= self.capacity && !kept.contains_key(key) {
            kept.clear();
        }
        kept.insert(key.to_owned(), (epoch, value));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.kept.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_value_serves_only_its_own_epoch() {
        let kept = Kept::new(8);
        kept.put("r", 3, Arc::new("three"));
        assert_eq!(kept.get("r", 3).as_deref(), Some(&"three"));
        assert!(kept.get("r", 2).is_none());
        assert!(kept.get("r", 4).is_none());
        assert!(kept.get("other", 3).is_none());
    }

    #[test]
    fn an_older_value_never_replaces_a_newer_one() {
        let kept = Kept::new(8);
        kept.put("r", 5, Arc::new("five"));
        kept.put("r", 4, Arc::new("four"));
        assert_eq!(kept.get("r", 5).as_deref(), Some(&"five"));
        kept.put("r", 6, Arc::new("six"));
        assert!(kept.get("r", 5).is_none());
        assert_eq!(kept.get("r", 6).as_deref(), Some(&"six"));
    }

    #[test]
    fn a_full_cache_starts_again_rather_than_growing() {
        let kept = Kept::new(4);
        for n in 0..4 {
            kept.put(&n.to_string(), 0, Arc::new(n));
        }
        kept.put("3", 1, Arc::new(33));
        assert_eq!(kept.len(), 4, "replacing a key takes no room");
        kept.put("one more", 0, Arc::new(5));
        assert_eq!(kept.len(), 1);
        assert_eq!(kept.get("one more", 0).as_deref(), Some(&5));
    }
}
