//! The round lifecycle: `draft → scheduled → in_session → concluded → archived`, and
//! `draft|scheduled → cancelled`.

use std::str::FromStr;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    Draft,
    Scheduled,
    InSession,
    Concluded,
    Archived,
    Cancelled,
}

impl RoundStatus {
    pub const ALL: [RoundStatus; 6] = [
        RoundStatus::Draft,
        RoundStatus::Scheduled,
        RoundStatus::InSession,
        RoundStatus::Concluded,
        RoundStatus::Archived,
        RoundStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoundStatus::Draft => "draft",
            RoundStatus::Scheduled => "scheduled",
            RoundStatus::InSession => "in_session",
            RoundStatus::Concluded => "concluded",
            RoundStatus::Archived => "archived",
            RoundStatus::Cancelled => "cancelled",
        }
    }

    /// The statuses this one may move to.
    pub fn next(self) -> &'static [RoundStatus] {
        use RoundStatus::*;
        match self {
            Draft => &[Scheduled, Cancelled],
            Scheduled => &[InSession, Cancelled],
            InSession => &[Concluded],
            Concluded => &[Archived],
            Archived | Cancelled => &[],
        }
    }

    pub fn can_move_to(self, to: RoundStatus) -> bool {
        self.next().contains(&to)
    }

    /// Invitations may be sent.
    pub fn accepts_invitations(self) -> bool {
        matches!(self, RoundStatus::Draft | RoundStatus::Scheduled)
    }

    /// Notes may be written.
    pub fn accepts_notes(self) -> bool {
        matches!(self, RoundStatus::InSession | RoundStatus::Concluded)
    }

    /// Nothing about the round may change any more.
    pub fn is_read_only(self) -> bool {
        matches!(self, RoundStatus::Archived | RoundStatus::Cancelled)
    }
}

impl FromStr for RoundStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        RoundStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::RoundStatus::*;
    use super::*;

    #[test]
    fn the_lifecycle_allows_exactly_the_designed_transitions() {
        let allowed = [
            (Draft, Scheduled),
            (Draft, Cancelled),
            (Scheduled, InSession),
            (Scheduled, Cancelled),
            (InSession, Concluded),
            (Concluded, Archived),
        ];
        for from in RoundStatus::ALL {
            for to in RoundStatus::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
        }
    }

    #[test]
    fn invitations_notes_and_edits_follow_the_status() {
        assert!(
            Draft.accepts_invitations()
                && Scheduled.accepts_invitations()
                && !InSession.accepts_invitations()
        );
        assert!(
            InSession.accepts_notes()
                && Concluded.accepts_notes()
                && !Archived.accepts_notes()
                && !Draft.accepts_notes()
        );
        assert!(Archived.is_read_only() && Cancelled.is_read_only() && !Concluded.is_read_only());
    }
}
