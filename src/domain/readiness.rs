//! What blocks a round from going into session: a co-chair per delegation, delegations within
//! their limits and in parity, a rapporteur, and an agenda.

use serde::Serialize;
use utoipa::ToSchema;

use super::dialogue::Side;
use super::rights::Role;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// `co_chair_per_side`, `delegation_limits`, `parity`, `rapporteur` or `agenda`.
    pub key: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// The state of a round's agenda, as readiness sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agenda {
    /// Never published; `items` in the working draft.
    Unpublished {
        items: usize,
    },
    Published {
        version: i32,
        items: usize,
    },
}

/// The checks, in a fixed order.
pub fn checks(
    sides: &[Side],
    members: &[(String, Role)],
    parity_tolerance: i32,
    agenda: Agenda,
) -> Vec<Check> {
    let count = |side: &Side| members.iter().filter(|(s, _)| *s == side.key).count();
    let delegations: Vec<&Side> = sides.iter().filter(|s| !s.neutral).collect();

    let missing: Vec<&str> = delegations
        .iter()
        .filter(|side| {
            !members
                .iter()
                .any(|(s, r)| *s == side.key && *r == Role::CoChair)
        })
        .map(|s| s.name.as_str())
        .collect();
    let over: Vec<String> = sides
        .iter()
        .filter(|s| count(s) > s.delegation_limit as usize)
        .map(|s| format!("{} has {} of {}", s.name, count(s), s.delegation_limit))
        .collect();
    let sizes: Vec<usize> = delegations.iter().map(|s| count(s)).collect();
    let spread = sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0);
    let rapporteurs = members
        .iter()
        .filter(|(_, r)| *r == Role::Rapporteur)
        .count();

    vec![
        Check {
            key: "co_chair_per_side",
            passed: missing.is_empty(),
            detail: if missing.is_empty() {
                "every delegation has a co-chair".into()
            } else {
                format!("no co-chair for: {}", missing.join(", "))
            },
        },
        Check {
            key: "delegation_limits",
            passed: over.is_empty(),
            detail: if over.is_empty() {
                "every side is within its limit".into()
            } else {
                over.join("; ")
            },
        },
        Check {
            key: "parity",
            passed: spread as i64 <= parity_tolerance as i64,
            detail: format!(
                "delegation sizes {} differ by {spread} (tolerance {parity_tolerance})",
                sizes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        },
        Check {
            key: "rapporteur",
            passed: rapporteurs > 0,
            detail: if rapporteurs > 0 {
                "a rapporteur is named".into()
            } else {
                "no rapporteur".into()
            },
        },
        Check {
            key: "agenda",
            passed: matches!(agenda, Agenda::Published { items, .. } if items > 0),
            detail: match agenda {
                Agenda::Unpublished { items: 0 } => "no agenda items".into(),
                Agenda::Unpublished { items } => format!("{items} agenda items, not yet published"),
                Agenda::Published { version, items } => {
                    format!("agenda version {version} published with {items} items")
                }
            },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sides() -> Vec<Side> {
        let s = |k: &str, neutral| Side {
            key: k.into(),
            name: k.into(),
            country: None,
            delegation_limit: 3,
            neutral,
        };
        vec![s("a", false), s("b", false), s("n", true)]
    }

    fn m(side: &str, role: Role) -> (String, Role) {
        (side.into(), role)
    }

    #[test]
    fn a_balanced_round_with_chairs_and_a_rapporteur_passes_all_but_the_agenda() {
        let members = vec![
            m("a", Role::CoChair),
            m("a", Role::Delegate),
            m("b", Role::CoChair),
            m("b", Role::Rapporteur),
            m("n", Role::Convenor),
        ];
        let c = checks(&sides(), &members, 0, Agenda::Unpublished { items: 0 });
        assert!(c[..4].iter().all(|c| c.passed), "{c:?}");
        assert!(!c[4].passed && c[4].detail == "no agenda items");
        assert!(!checks(&sides(), &members, 0, Agenda::Unpublished { items: 3 })[4].passed);
        assert!(
            checks(
                &sides(),
                &members,
                0,
                Agenda::Published {
                    version: 1,
                    items: 3
                }
            )
            .iter()
            .all(|c| c.passed)
        );
    }

    #[test]
    fn missing_chairs_overfull_sides_and_imbalance_fail() {
        let members = vec![
            m("a", Role::Delegate),
            m("a", Role::Delegate),
            m("a", Role::Delegate),
            m("a", Role::Delegate),
        ];
        let c = checks(
            &sides(),
            &members,
            1,
            Agenda::Published {
                version: 1,
                items: 1,
            },
        );
        assert!(!c[0].passed && c[0].detail.contains('a') && c[0].detail.contains('b'));
        assert!(!c[1].passed);
        assert!(!c[2].passed);
        assert!(!c[3].passed);
    }
}
