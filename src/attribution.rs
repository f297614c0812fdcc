//! Applies the attribution guard (`domain::guard`) to text about a round before it is stored:
//! shared notes, summaries, the joint statement and agenda outcomes. The guard's context is the
//! round's roster (names, emails, affiliations), how many people hold each role, and the
//! dialogue's side names and countries, which may always be named.
//!
//! Building a guard reads the roster and the sides; a node keeps the guards it built
//! ([`Guards`]), each under the round's guard epoch at the time. The database advances a round's
//! epoch whenever anything the guard reads changes (migration `m20261201_000008_guard_epoch`),
//! and every request reads the epoch with the round, so a kept guard is only used while it is
//! still the round's guard, whichever node made the change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::domain::guard::{self, Context, Guard, Person, Span};
use crate::domain::rights::Role;
use crate::entities::round;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store;

/// The guard's view of one round.
pub async fn context(
    db: &impl crate::db::Fetch,
    round_id: &str,
    dialogue_id: &str,
) -> ApiResult<Guard> {
    let roster = store::participants::list(db, round_id).await?;
    let mut role_counts: HashMap<Role, usize> = HashMap::new();
    let mut people = Vec::with_capacity(roster.len());
    for (p, u) in roster {
        if let Ok(role) = p.role.parse::<Role>() {
            *role_counts.entry(role).or_default() += 1;
        }
        people.push(Person {
            display_name: u.display_name,
            email: u.email,
            affiliation: u.affiliation,
        });
    }
    let allowed = store::dialogues::sides(db, dialogue_id)
        .await?
        .into_iter()
        .flat_map(|s| [Some(s.name), s.country])
        .flatten()
        .collect();
    // The guard's index is built once here and reused for every text of the request.
    Ok(Context {
        people,
        role_counts: role_counts.into_iter().collect(),
        allowed,
    }
    .guard())
}

/// The spans of `text` that could attribute it, under the round's context.
pub fn spans(guard: &Guard, text: &str) -> Vec<Span> {
    guard.scan(text)
}

/// The round's guard, built at the round's current epoch: a kept one when this node has it.
pub async fn guard(state: &AppState, round: &round::Model) -> ApiResult<Arc<Guard>> {
    if let Some(guard) = state.guards.get(&round.id, round.guard_epoch) {
        return Ok(guard);
    }
    // Everything read here is at least as new as the epoch read with the round, so the guard
    // is never older than the epoch it is kept under.
    let guard = Arc::new(context(&state.reader, &round.id, &round.dialogue_id).await?);
    state
        .guards
        .put(&round.id, round.guard_epoch, Arc::clone(&guard));
    Ok(guard)
}

/// `text` if it names nobody; with `redact`, `text` with every risky span replaced; otherwise
/// 422 `attribution_risk` listing the spans (as character offsets, never the matched words).
pub async fn check(
    state: &AppState,
    round: &round::Model,
    text: &str,
    redact: bool,
) -> ApiResult<String> {
    apply(&*guard(state, round).await?, text, redact)
}

pub fn apply(ctx: &Guard, text: &str, redact: bool) -> ApiResult<String> {
    let spans = spans(ctx, text);
    if spans.is_empty() {
        return Ok(text.to_owned());
    }
    if redact {
        return Ok(guard::redact(text, &spans));
    }
    Err(risk(&spans))
}

pub fn risk(spans: &[Span]) -> ApiError {
    ApiError::Unprocessable {
        code: "attribution_risk",
        detail: "The text could identify a participant, an institution or a role-holder; rephrase it or send redact: true.".into(),
        extra: Some(json!({"spans": spans})),
    }
}

/// Guards this node has built, by round, each with the epoch it was built at. Bounded: when
/// full it starts again empty, which costs a rebuild per round and nothing else.
pub struct Guards {
    kept: Mutex<HashMap<String, (i64, Arc<Guard>)>>,
}

impl Guards {
    /// Rounds kept at most; a guard is a few kilobytes.
    const CAPACITY: usize = 512;

    pub fn new() -> Self {
        Self {
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The guard kept for the round if it was built at exactly `epoch`.
    fn get(&self, round_id: &str, epoch: i64) -> Option<Arc<Guard>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(round_id)
            .filter(|(at, _)| *at == epoch)
            .map(|(_, guard)| Arc::clone(guard))
    }

    /// Keeps `guard` for the round unless a guard of a later epoch is kept already.
    fn put(&self, round_id: &str, epoch: i64, guard: Arc<Guard>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.get(round_id).is_some_and(|(at, _)| *at > epoch) {
            return;
        }
        if kept.len() >= Self::CAPACITY && !kept.contains_key(round_id) {
            kept.clear();
        }
        kept.insert(round_id.to_owned(), (epoch, guard));
    }
}

impl Default for Guards {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard_naming(name: &str) -> Arc<Guard> {
        Arc::new(
            Context {
                people: vec![Person {
                    display_name: name.into(),
                    email: format!("{}@example.org", name.to_lowercase()),
                    affiliation: None,
                }],
                role_counts: Vec::new(),
                allowed: Vec::new(),
            }
            .guard(),
        )
    }

    #[test]
    fn a_kept_guard_serves_only_its_own_epoch() {
        let guards = Guards::new();
        guards.put("r", 3, guard_naming("Farida"));
        assert!(guards.get("r", 3).is_some());
        assert!(guards.get("r", 2).is_none());
        assert!(guards.get("r", 4).is_none());
        assert!(guards.get("other", 3).is_none());
    }

    #[test]
    fn an_older_guard_never_replaces_a_newer_one() {
        let guards = Guards::new();
        guards.put("r", 5, guard_naming("Farida"));
        guards.put("r", 4, guard_naming("Oskar"));
        let kept = guards.get("r", 5).expect("the epoch-5 guard");
        assert!(!kept.scan("Farida spoke").is_empty());
        guards.put("r", 6, guard_naming("Oskar"));
        assert!(guards.get("r", 5).is_none());
        assert!(
            !guards
                .get("r", 6)
                .expect("epoch 6")
                .scan("Oskar spoke")
                .is_empty()
        );
    }

    #[test]
    fn a_full_cache_starts_again_rather_than_growing() {
        let guards = Guards::new();
        for n in 0..Guards::CAPACITY {
            guards.put(&n.to_string(), 0, guard_naming("Farida"));
        }
        guards.put("one more", 0, guard_naming("Farida"));
        let kept = guards.kept.lock().unwrap();
        assert!(kept.len() <= Guards::CAPACITY);
        assert!(kept.contains_key("one more"));
    }
}
