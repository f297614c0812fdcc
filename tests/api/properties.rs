//! Property tests (proptest): arbitrary input to every request DTO's deserialiser and to the
//! attribution guard never panics, and the guard's spans always fit the text.

use backchannel::domain::guard::{self, Context, Person};
use backchannel::domain::rights::Role;
use backchannel::routes::{
    agenda, auth, dialogues, invitations, me, notes, participants, rounds, tokens, users,
};
use proptest::prelude::*;

/// Feeds `bytes` to every request body and query type the API deserialises.
fn deserialize_everything(bytes: &[u8]) {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            let _ = serde_json::from_slice::<$t>(bytes);
        )*};
    }
    each!(
        auth::LoginRequest,
        auth::RefreshRequest,
        me::PatchMe,
        me::ChangePassword,
        users::CreateUser,
        users::PatchUser,
        tokens::CreateToken,
        dialogues::CreateDialogue,
        dialogues::PatchDialogue,
        dialogues::AddOrganizer,
        rounds::CreateRound,
        rounds::PatchRound,
        rounds::StatusChange,
        invitations::CreateInvitation,
        invitations::TokenBody,
        invitations::AcceptBody,
        participants::PatchParticipant,
        agenda::CreateItem,
        agenda::PatchItem,
        agenda::OrderBody,
        agenda::StatusBody,
        agenda::CarryForwardBody,
        notes::CreateNote,
        notes::EditBody,
        notes::ApproveBody,
    );
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = actix_web::web::Query::<backchannel::routes::PageQuery>::from_query(s);
        let _ = actix_web::web::Query::<notes::NotesQuery>::from_query(s);
        let _ = actix_web::web::Query::<rounds::RoundsQuery>::from_query(s);
        let _ = actix_web::web::Query::<dialogues::AuditQuery>::from_query(s);
        let _ = actix_web::web::Query::<invitations::InvitationsQuery>::from_query(s);
    }
}

/// JSON objects built from the DTOs' own field names with arbitrary values: closer to real
/// requests than random bytes.
fn json_like() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "email",
        "password",
        "display_name",
        "affiliation",
        "name",
        "format",
        "sides",
        "key",
        "title",
        "venue",
        "timezone",
        "starts_on",
        "ends_on",
        "status",
        "force",
        "side",
        "role",
        "token",
        "body",
        "visibility",
        "redact",
        "agenda_item_id",
        "item_ids",
        "round_id",
        "version",
        "scopes",
        "topics",
        "starts_at",
        "leads",
    ]);
    let value = prop_oneof![
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        prop::collection::vec(any::<String>(), 0..4)
            .prop_map(|v| serde_json::to_string(&v).unwrap()),
    ];
    prop::collection::vec((keys, value), 0..6).prop_map(|fields| {
        let inner: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", inner.join(","))
    })
}

fn context(names: &[String]) -> Context {
    Context {
        people: names
            .iter()
            .map(|n| Person {
                display_name: n.clone(),
                email: format!("{}@example.org", n.replace(' ', ".")),
                affiliation: Some(format!("{n} Institute")),
            })
            .collect(),
        role_counts: vec![
            (Role::CoChair, 2),
            (Role::Rapporteur, 1),
            (Role::Delegate, 8),
        ],
        allowed: vec!["India".into(), "Pakistan".into()],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn no_dto_deserialiser_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        deserialize_everything(&bytes);
    }

    #[test]
    fn no_dto_deserialiser_panics_on_arbitrary_json_objects(text in json_like()) {
        deserialize_everything(text.as_bytes());
    }

    #[test]
    fn the_guard_never_panics_and_its_spans_fit_the_text(
        text in "\\PC{0,300}",
        names in prop::collection::vec("[A-Za-zÀ-ÿ]{1,12}( [A-Za-zÀ-ÿ\\-']{1,12}){0,2}", 0..6),
    ) {
        let ctx = context(&names);
        let spans = guard::scan(&text, &ctx);
        let chars = text.chars().count();
        let mut last = 0;
        for s in &spans {
            prop_assert!(s.start < s.end && s.end <= chars, "{s:?} in {chars} chars");
            prop_assert!(s.start >= last, "sorted and disjoint");
            last = s.end;
        }
        let redacted = guard::redact(&text, &spans);
        // Redacting again finds no person or institution left.
        let again = guard::scan(&redacted, &ctx);
        prop_assert!(again.iter().all(|s| s.kind == guard::SpanKind::RoleHolder), "{again:?}");
    }
}
