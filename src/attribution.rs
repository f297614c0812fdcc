//! Applies the attribution guard (`domain::guard`) to text about a round before it is stored:
//! shared notes, summaries, the joint statement and agenda outcomes. The guard's context is the
//! round's roster (names, emails, affiliations), how many people hold each role, and the
//! dialogue's side names and countries, which may always be named.
//!
//! Building a guard reads the roster and the sides; a node keeps the guards it built under the
//! round's guard epoch (`crate::kept`), so a kept guard is only used while it is still the
//! round's guard, whichever node made a change.

use std::collections::HashMap;
use std::sync::Arc;

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
