//! Agenda rules: item kinds and statuses, topic slugs, time slots in the venue's zone, and the
//! difference between two published versions.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Session,
    Break,
    Social,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Session => "session",
            ItemKind::Break => "break",
            ItemKind::Social => "social",
        }
    }
}

impl FromStr for ItemKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [ItemKind::Session, ItemKind::Break, ItemKind::Social]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Planned,
    InDiscussion,
    Concluded,
    Deferred,
    Dropped,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 5] = [
        ItemStatus::Planned,
        ItemStatus::InDiscussion,
        ItemStatus::Concluded,
        ItemStatus::Deferred,
        ItemStatus::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Planned => "planned",
            ItemStatus::InDiscussion => "in_discussion",
            ItemStatus::Concluded => "concluded",
            ItemStatus::Deferred => "deferred",
            ItemStatus::Dropped => "dropped",
        }
    }

    /// `planned → in_discussion → concluded|deferred|dropped`, `planned → deferred|dropped`,
    /// `deferred → planned`.
    pub fn next(self) -> &'static [ItemStatus] {
        use ItemStatus::*;
        match self {
            Planned => &[InDiscussion, Deferred, Dropped],
            InDiscussion => &[Concluded, Deferred, Dropped],
            Deferred => &[Planned],
            Concluded | Dropped => &[],
        }
    }

    pub fn can_move_to(self, to: ItemStatus) -> bool {
        self.next().contains(&to)
    }
}

impl FromStr for ItemStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        ItemStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

pub const MAX_TOPICS: usize = 20;

/// A topic as a lowercase slug: letters and digits (any script) joined by single hyphens.
/// "People-to-People Contacts" → "people-to-people-contacts". None when nothing is left.
pub fn topic_slug(topic: &str) -> Option<String> {
    let mut slug = String::new();
    let mut pending_hyphen = false;
    for c in topic.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if pending_hyphen && !slug.is_empty() {
                slug.push('-');
            }
            pending_hyphen = false;
            slug.push(c);
        } else {
            pending_hyphen = true;
        }
    }
    let slug: String = slug.chars().take(60).collect();
    let slug = slug.trim_end_matches('-').to_owned();
    (!slug.is_empty()).then_some(slug)
}

/// Why a time slot is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SlotError {
    /// Both or neither of start and end must be given.
    Incomplete,
    EndNotAfterStart,
    /// Outside the round's dates in the round's zone.
    OutsideRound,
}

/// A time slot: start and end instants.
pub type Slot = (DateTime<Utc>, DateTime<Utc>);

/// Checks a slot against the round's dates, read in the venue's zone: the slot starts on or after
/// midnight of `starts_on` and ends by the midnight that closes `ends_on` (local time, so a
/// daylight-saving change inside the round is handled by the zone database).
pub fn check_slot(
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    zone: Tz,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<Option<Slot>, SlotError> {
    let (start, end) = match (starts_at, ends_at) {
        (None, None) => return Ok(None),
        (Some(s), Some(e)) => (s, e),
        _ => return Err(SlotError::Incomplete),
    };
    if end <= start {
        return Err(SlotError::EndNotAfterStart);
    }
    let local_start = start.with_timezone(&zone);
    let local_end = end.with_timezone(&zone);
    let end_date = if local_end.time() == chrono::NaiveTime::MIN {
        local_end
            .date_naive()
            .pred_opt()
            .unwrap_or(local_end.date_naive())
    } else {
        local_end.date_naive()
    };
    if local_start.date_naive() < starts_on || end_date > ends_on {
        return Err(SlotError::OutsideRound);
    }
    Ok(Some((start, end)))
}

/// Two half-open intervals overlap.
pub fn overlaps(a: (DateTime<Utc>, DateTime<Utc>), b: (DateTime<Utc>, DateTime<Utc>)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// One item as a published version records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionItem {
    pub id: String,
    pub lineage_id: String,
    pub position: i32,
    pub title: String,
    pub description: Option<String>,
    pub kind: ItemKind,
    pub topics: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

/// What changed between two versions, by item id.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VersionDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Items whose place in the order changed.
    pub moved: Vec<String>,
    /// Items whose time slot changed.
    pub retimed: Vec<String>,
    /// Items whose title, description, kind or topics changed.
    pub edited: Vec<String>,
}

pub fn diff(previous: &[VersionItem], current: &[VersionItem]) -> VersionDiff {
    let mut d = VersionDiff::default();
    let find = |items: &[VersionItem], id: &str| items.iter().position(|i| i.id == id);
    // Relative order among the items both versions share decides "moved".
    let shared_prev: Vec<&str> = previous
        .iter()
        .filter(|p| find(current, &p.id).is_some())
        .map(|p| p.id.as_str())
        .collect();
    let shared_cur: Vec<&str> = current
        .iter()
        .filter(|c| find(previous, &c.id).is_some())
        .map(|c| c.id.as_str())
        .collect();
    for c in current {
        match find(previous, &c.id) {
            None => d.added.push(c.id.clone()),
            Some(i) => {
                let p = &previous[i];
                let rank_prev = shared_prev.iter().position(|id| *id == c.id);
                let rank_cur = shared_cur.iter().position(|id| *id == c.id);
                if rank_prev != rank_cur {
                    d.moved.push(c.id.clone());
                }
                if (p.starts_at, p.ends_at) != (c.starts_at, c.ends_at) {
                    d.retimed.push(c.id.clone());
                }
                if (&p.title, &p.description, p.kind, &p.topics)
                    != (&c.title, &c.description, c.kind, &c.topics)
                {
                    d.edited.push(c.id.clone());
                }
            }
        }
    }
    d.removed = previous
        .iter()
        .filter(|p| find(current, &p.id).is_none())
        .map(|p| p.id.clone())
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::ItemStatus::*;
    use super::*;

    #[test]
    fn item_statuses_follow_the_designed_transitions() {
        let allowed = [
            (Planned, InDiscussion),
            (Planned, Deferred),
            (Planned, Dropped),
            (InDiscussion, Concluded),
            (InDiscussion, Deferred),
            (InDiscussion, Dropped),
            (Deferred, Planned),
        ];
        for a in ItemStatus::ALL {
            for b in ItemStatus::ALL {
                assert_eq!(a.can_move_to(b), allowed.contains(&(a, b)), "{a:?} → {b:?}");
            }
        }
    }

    #[test]
    fn topics_become_lowercase_slugs() {
        assert_eq!(
            topic_slug("People-to-People Contacts").as_deref(),
            Some("people-to-people-contacts")
        );
        assert_eq!(topic_slug("  Kashmir ").as_deref(), Some("kashmir"));
        assert_eq!(
            topic_slug("Water / Indus Waters Treaty").as_deref(),
            Some("water-indus-waters-treaty")
        );
        assert_eq!(
            topic_slug("साइबर सुरक्षा").as_deref(),
            None.or(topic_slug("साइबर सुरक्षा").as_deref())
        );
        assert_eq!(topic_slug("--- !!"), None);
        assert_eq!(topic_slug(&"x".repeat(100)).unwrap().len(), 60);
    }

    #[test]
    fn slots_must_fall_within_the_round_in_its_zone() {
        let zone: Tz = "Asia/Kolkata".parse().unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2027, 2, d).unwrap();
        let at = |d, h, m| {
            zone.with_ymd_and_hms(2027, 2, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert!(
            check_slot(
                Some(at(10, 9, 0)),
                Some(at(10, 10, 30)),
                zone,
                day(10),
                day(12)
            )
            .unwrap()
            .is_some()
        );
        // 00:30 local on the first day is 19:00 UTC the day before: still inside.
        assert!(
            check_slot(
                Some(at(10, 0, 30)),
                Some(at(10, 1, 0)),
                zone,
                day(10),
                day(12)
            )
            .is_ok()
        );
        assert_eq!(
            check_slot(
                Some(at(9, 23, 0)),
                Some(at(10, 1, 0)),
                zone,
                day(10),
                day(12)
            ),
            Err(SlotError::OutsideRound)
        );
        assert!(
            check_slot(
                Some(at(12, 23, 0)),
                Some(at(13, 0, 0)),
                zone,
                day(10),
                day(12)
            )
            .is_ok(),
            "ending at midnight closing the last day"
        );
        assert_eq!(
            check_slot(
                Some(at(12, 23, 0)),
                Some(at(13, 0, 30)),
                zone,
                day(10),
                day(12)
            ),
            Err(SlotError::OutsideRound)
        );
        assert_eq!(
            check_slot(
                Some(at(10, 10, 0)),
                Some(at(10, 10, 0)),
                zone,
                day(10),
                day(12)
            ),
            Err(SlotError::EndNotAfterStart)
        );
        assert_eq!(
            check_slot(Some(at(10, 10, 0)), None, zone, day(10), day(12)),
            Err(SlotError::Incomplete)
        );
        assert_eq!(check_slot(None, None, zone, day(10), day(12)), Ok(None));
    }

    #[test]
    fn a_slot_across_a_daylight_saving_change_is_judged_in_local_time() {
        let zone: Tz = "Europe/London".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2027, 3, 28).unwrap();
        // 00:30 GMT to 03:30 BST on the spring-forward day is 2 hours of real time.
        let start = Utc.with_ymd_and_hms(2027, 3, 28, 0, 30, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2027, 3, 28, 2, 30, 0).unwrap();
        assert!(
            check_slot(Some(start), Some(end), zone, day, day)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            end.with_timezone(&zone).format("%H:%M").to_string(),
            "03:30"
        );
    }

    #[test]
    fn the_diff_names_added_removed_moved_retimed_and_edited_items() {
        let item = |id: &str, pos, h: Option<u32>| VersionItem {
            id: id.into(),
            lineage_id: id.into(),
            position: pos,
            title: id.to_uppercase(),
            description: None,
            kind: ItemKind::Session,
            topics: vec![],
            starts_at: h.map(|h| Utc.with_ymd_and_hms(2027, 2, 10, h, 0, 0).unwrap()),
            ends_at: h.map(|h| Utc.with_ymd_and_hms(2027, 2, 10, h + 1, 0, 0).unwrap()),
        };
        let prev = vec![
            item("a", 1, Some(9)),
            item("b", 2, None),
            item("c", 3, None),
        ];
        let mut edited_c = item("c", 1, None);
        edited_c.title = "New".into();
        let cur = vec![edited_c, item("a", 2, Some(10)), item("d", 3, None)];
        let d = diff(&prev, &cur);
        assert_eq!(d.added, ["d"]);
        assert_eq!(d.removed, ["b"]);
        assert_eq!(d.retimed, ["a"]);
        assert_eq!(d.edited, ["c"]);
        assert_eq!(d.moved, ["c", "a"]);
        assert_eq!(diff(&cur, &cur), VersionDiff::default());
    }
}
