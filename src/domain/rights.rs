//! The rights table of DESIGN.md §2 as a pure function. `access.rs` applies it to the caller's
//! memberships read from the database on every request.

use std::fmt;
use std::str::FromStr;

/// A participant's role in one round.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Convenor,
    CoChair,
    Facilitator,
    Rapporteur,
    Delegate,
    Observer,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Convenor,
        Role::CoChair,
        Role::Facilitator,
        Role::Rapporteur,
        Role::Delegate,
        Role::Observer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Convenor => "convenor",
            Role::CoChair => "co_chair",
            Role::Facilitator => "facilitator",
            Role::Rapporteur => "rapporteur",
            Role::Delegate => "delegate",
            Role::Observer => "observer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(())
    }
}

/// Everything a caller may try to do with a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Edit the round, change its status, manage invitations, roles and removals.
    ManageRound,
    /// Read the round, its agenda and its participant list.
    ReadRound,
    /// Create, edit, reorder and carry forward agenda items.
    EditAgenda,
    /// Set an agenda item's status and outcome.
    SetAgendaStatus,
    PrivateNotes,
    PostChatham,
    /// Read released chatham notes, summaries and the record.
    ReadRecord,
    WriteSummary,
    DraftStatement,
    ApproveStatement,
}

/// Whether a caller who organizes the round's dialogue (`organizer`) and/or holds `role` in
/// the round may perform `action`. Organizers manage logistics; content rights come only from
/// a role in the round ("member only").
pub fn allowed(organizer: bool, role: Option<Role>, action: Action) -> bool {
    use Action::*;
    use Role::*;
    let by_organizer = organizer && matches!(action, ManageRound | ReadRound | EditAgenda);
    let by_role = match (role, action) {
        (None, _) => false,
        (Some(r), ManageRound) => r == Convenor,
        (Some(_), ReadRound) => true,
        (Some(r), EditAgenda) => matches!(r, Convenor | CoChair | Facilitator),
        (Some(r), SetAgendaStatus) => matches!(r, Convenor | CoChair | Facilitator | Rapporteur),
        (Some(_), PrivateNotes) => true,
        (Some(r), PostChatham) => r != Observer,
        (Some(_), ReadRecord) => true,
        (Some(r), WriteSummary) => r == Rapporteur,
        (Some(r), DraftStatement) => matches!(r, CoChair | Facilitator | Rapporteur),
        (Some(r), ApproveStatement) => r == CoChair,
    };
    by_organizer || by_role
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::Role::*;
    use super::*;

    /// DESIGN.md §2, row by row: (action, organizer, convenor, co_chair, facilitator,
    /// rapporteur, delegate, observer).
    const TABLE: [(Action, [bool; 7]); 10] = [
        (ManageRound, [true, true, false, false, false, false, false]),
        (ReadRound, [true, true, true, true, true, true, true]),
        (EditAgenda, [true, true, true, true, false, false, false]),
        (
            SetAgendaStatus,
            [false, true, true, true, true, false, false],
        ),
        (PrivateNotes, [false, true, true, true, true, true, true]),
        (PostChatham, [false, true, true, true, true, true, false]),
        (ReadRecord, [false, true, true, true, true, true, true]),
        (
            WriteSummary,
            [false, false, false, false, true, false, false],
        ),
        (
            DraftStatement,
            [false, false, true, true, true, false, false],
        ),
        (
            ApproveStatement,
            [false, false, true, false, false, false, false],
        ),
    ];

    #[test]
    fn the_rights_table_of_the_design_holds_cell_by_cell() {
        for (action, row) in TABLE {
            assert_eq!(allowed(true, None, action), row[0], "organizer {action:?}");
            for (i, role) in [
                Convenor,
                CoChair,
                Facilitator,
                Rapporteur,
                Delegate,
                Observer,
            ]
            .into_iter()
            .enumerate()
            {
                assert_eq!(
                    allowed(false, Some(role), action),
                    row[i + 1],
                    "{role} {action:?}"
                );
            }
            assert!(!allowed(false, None, action), "non-member {action:?}");
        }
    }

    #[test]
    fn an_organizer_who_is_also_a_member_gets_both_sets_of_rights() {
        assert!(allowed(true, Some(Delegate), PostChatham));
        assert!(allowed(true, Some(Delegate), ManageRound));
        assert!(!allowed(true, Some(Delegate), WriteSummary));
    }

    #[test]
    fn roles_parse_from_their_snake_case_names_only() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("organizer".parse::<Role>().is_err());
        assert!("Co_Chair".parse::<Role>().is_err());
    }
}
