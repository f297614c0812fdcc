//! API-token scopes, and the scope each route needs. The table below is the whole list of what
//! an API token can reach: anything not in it — notes, summaries, the statement, the record,
//! password changes, account administration, token management — is refused to API tokens.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "rounds:read")]
    RoundsRead,
    #[serde(rename = "rounds:write")]
    RoundsWrite,
    #[serde(rename = "agenda:read")]
    AgendaRead,
    #[serde(rename = "agenda:write")]
    AgendaWrite,
    #[serde(rename = "invitations:write")]
    InvitationsWrite,
    #[serde(rename = "participants:read")]
    ParticipantsRead,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::RoundsRead,
        Scope::RoundsWrite,
        Scope::AgendaRead,
        Scope::AgendaWrite,
        Scope::InvitationsWrite,
        Scope::ParticipantsRead,
        Scope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RoundsRead => "rounds:read",
            Scope::RoundsWrite => "rounds:write",
            Scope::AgendaRead => "agenda:read",
            Scope::AgendaWrite => "agenda:write",
            Scope::InvitationsWrite => "invitations:write",
            Scope::ParticipantsRead => "participants:read",
            Scope::AuditRead => "audit:read",
        }
    }
}

impl FromStr for Scope {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s).ok_or(())
    }
}

/// The scope an API token needs for `method` on the route template `pattern`
/// (e.g. `/api/v1/rounds/{round_id}`), or `None`: API tokens may not use the route at all.
pub fn required(method: &str, pattern: &str) -> Option<Scope> {
    use Scope::*;
    let p = pattern.strip_prefix("/api/v1").unwrap_or(pattern);
    let read = method == "GET";
    Some(match p {
        "/me" if read => RoundsRead,
        "/formats"
        | "/dialogues"
        | "/dialogues/{dialogue_id}"
        | "/dialogues/{dialogue_id}/rounds"
            if read =>
        {
            RoundsRead
        }
        "/rounds/{round_id}" | "/rounds/{round_id}/readiness" if read => RoundsRead,
        "/dialogues/{dialogue_id}/rounds" | "/rounds/{round_id}" | "/rounds/{round_id}/status" => {
            RoundsWrite
        }
        "/rounds/{round_id}/participants" if read => ParticipantsRead,
        "/rounds/{round_id}/invitations"
        | "/invitations/{invitation_id}"
        | "/invitations/{invitation_id}/resend" => InvitationsWrite,
        "/dialogues/{dialogue_id}/audit" if read => AuditRead,
        "/rounds/{round_id}/agenda"
        | "/rounds/{round_id}/agenda/versions"
        | "/rounds/{round_id}/agenda/versions/{number}"
        | "/rounds/{round_id}/calendar.ics"
        | "/agenda/{item_id}"
        | "/agenda/{item_id}/lineage"
        | "/dialogues/{dialogue_id}/topics"
        | "/dialogues/{dialogue_id}/topics/{topic}"
            if read =>
        {
            AgendaRead
        }
        "/rounds/{round_id}/agenda"
        | "/rounds/{round_id}/agenda/order"
        | "/rounds/{round_id}/agenda/publish"
        | "/agenda/{item_id}"
        | "/agenda/{item_id}/status"
        | "/agenda/{item_id}/carry-forward" => AgendaWrite,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_account_routes_are_never_reachable_by_api_tokens() {
        for (m, p) in [
            ("POST", "/api/v1/rounds/{round_id}/notes"),
            ("GET", "/api/v1/rounds/{round_id}/notes"),
            ("GET", "/api/v1/notes/{note_id}"),
            ("GET", "/api/v1/me/notes"),
            ("GET", "/api/v1/rounds/{round_id}/record"),
            ("GET", "/api/v1/rounds/{round_id}/statement"),
            ("GET", "/api/v1/agenda/{item_id}/summary"),
            ("POST", "/api/v1/me/password"),
            ("PATCH", "/api/v1/me"),
            ("POST", "/api/v1/users"),
            ("POST", "/api/v1/me/tokens"),
            ("GET", "/api/v1/me/tokens"),
            ("POST", "/api/v1/dialogues"),
        ] {
            assert_eq!(required(m, p), None, "{m} {p}");
        }
    }

    #[test]
    fn reads_and_writes_need_their_own_scopes() {
        assert_eq!(
            required("GET", "/api/v1/rounds/{round_id}"),
            Some(Scope::RoundsRead)
        );
        assert_eq!(
            required("PATCH", "/api/v1/rounds/{round_id}"),
            Some(Scope::RoundsWrite)
        );
        assert_eq!(
            required("GET", "/api/v1/agenda/{item_id}"),
            Some(Scope::AgendaRead)
        );
        assert_eq!(
            required("PATCH", "/api/v1/agenda/{item_id}"),
            Some(Scope::AgendaWrite)
        );
        assert_eq!(
            required("DELETE", "/api/v1/invitations/{invitation_id}"),
            Some(Scope::InvitationsWrite)
        );
        assert_eq!(
            required("GET", "/api/v1/dialogues/{dialogue_id}/audit"),
            Some(Scope::AuditRead)
        );
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
    }
}
