//! A round's roster. The roster is confidential: only the round's members and the dialogue's
//! organizers see it, and only organizers see email addresses.

use actix_web::{HttpResponse, delete, get, patch, web};
use sea_orm::{IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::no_store;
use crate::access::{self, RoundCaller};
use crate::auth::AuthUser;
use crate::domain::rights::{Action, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store::audit::Entry;
use crate::{db, store};

/// Routes under a round, `/rounds/{round_id}`: paths here are relative to it.
pub fn round(cfg: &mut ServiceConfig) {
    cfg.service(list_participants)
        .service(patch_participant)
        .service(remove_participant);
}

pub const ATTENDANCE: [&str; 4] = ["expected", "confirmed", "attended", "absent"];

#[derive(Serialize, ToSchema)]
pub struct ParticipantView {
    pub user_id: String,
    pub display_name: String,
    pub affiliation: Option<String>,
    pub side: String,
    pub role: String,
    /// `expected`, `confirmed`, `attended` or `absent`.
    pub attendance: String,
    /// Organizers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "co_chair"}))]
pub struct PatchParticipant {
    pub role: Option<Role>,
    pub side: Option<String>,
    #[schema(pattern = "^(expected|confirmed|attended|absent)$")]
    pub attendance: Option<String>,
}

/// The round's participants (members and organizers).
#[utoipa::path(
    tag = "participants",
    security(("bearer" = [])),
    params(("round_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<ParticipantView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/participants")] // /rounds/{round_id}/participants
async fn list_participants(
    caller: RoundCaller,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRound)?;
    let limit = query.limit()?;
    let after = query.cursor()?;
    let items: Vec<ParticipantView> = store::participants::list(&state.reader, &access.round.id)
        .await?
        .into_iter()
        .filter(|(p, _)| after.is_none_or(|a| p.user_id.as_str() > a))
        .take(limit as usize)
        .map(|(p, u)| ParticipantView {
            user_id: p.user_id,
            display_name: u.display_name,
            affiliation: u.affiliation,
            side: p.side_key,
            role: p.role,
            attendance: p.attendance,
            email: access.organizer.then_some(u.email),
        })
        .collect();
    Ok(no_store(HttpResponse::Ok()).json(Page::new(items, limit, |p| p.user_id.clone())))
}

/// Changes a participant's role, side or attendance (organizers and the convenor); the change
/// applies to that participant's very next request.
#[utoipa::path(
    tag = "participants",
    security(("bearer" = [])),
    params(("round_id" = String, Path), ("user_id" = String, Path)),
    request_body = PatchParticipant,
    responses((status = 200, body = ParticipantView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[patch("/participants/{user_id}")] // /rounds/{round_id}/participants/{user_id}
async fn patch_participant(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<PatchParticipant>,
) -> ApiResult<HttpResponse> {
    let (round_id, user_id) = path.into_inner();
    let access = access::round(&state.reader, &auth, &round_id).await?;
    access.require(Action::ManageRound)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let body = body.into_inner();
    if let Some(a) = &body.attendance
        && !ATTENDANCE.contains(&a.as_str())
    {
        return Err(ApiError::invalid(
            "attendance",
            "must be expected, confirmed, attended or absent",
        ));
    }
    let sides = store::dialogues::sides(&state.db, &access.dialogue.id).await?;
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &round_id).await?;
    let member = store::participants::find(&tx, &round_id, &user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let before = (member.role.clone(), member.side_key.clone());
    let mut model = member.clone().into_active_model();
    if let Some(side_key) = &body.side {
        let side = sides
            .iter()
            .find(|s| &s.key == side_key)
            .ok_or_else(|| ApiError::invalid("side", "is not a side of this dialogue"))?;
        if *side_key != member.side_key {
            let taken = store::participants::count_on_side(&tx, &round_id, side_key).await?
                + store::invitations::open_on_side(&tx, &round_id, side_key).await?;
            if taken >= side.delegation_limit as u64 {
                return Err(ApiError::conflict(
                    "delegation_full",
                    "That side's delegation is full.",
                ));
            }
        }
        model.side_key = Set(side_key.clone());
    }
    if let Some(role) = body.role {
        model.role = Set(role.as_str().to_owned());
    }
    if let Some(a) = body.attendance {
        model.attendance = Set(a);
    }
    let updated = store::participants::update(&tx, model).await?;
    if (updated.role.clone(), updated.side_key.clone()) != before {
        store::audit::record(
            &tx,
            Entry {
                dialogue_id: &access.dialogue.id,
                round_id: Some(&round_id),
                actor_id: Some(auth.id()),
                action: "participant.role_changed",
                target_type: "user",
                target_id: Some(&user_id),
                detail: Some(json!({"from": {"role": before.0, "side": before.1}, "to": {"role": updated.role, "side": updated.side_key}})),
            },
        )
        .await?;
    }
    tx.commit().await?;
    let user = store::users::find(&state.db, &user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(no_store(HttpResponse::Ok()).json(ParticipantView {
        user_id: updated.user_id,
        display_name: user.display_name,
        affiliation: user.affiliation,
        side: updated.side_key,
        role: updated.role,
        attendance: updated.attendance,
        email: access.organizer.then_some(user.email),
    }))
}

/// Removes a participant from the round (organizers and the convenor).
#[utoipa::path(
    tag = "participants",
    security(("bearer" = [])),
    params(("round_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[delete("/participants/{user_id}")] // /rounds/{round_id}/participants/{user_id}
async fn remove_participant(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (round_id, user_id) = path.into_inner();
    let access = access::round(&state.reader, &auth, &round_id).await?;
    access.require(Action::ManageRound)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let tx = db::begin_write(&state.db).await?;
    if !store::participants::remove(&tx, &round_id, &user_id).await? {
        return Err(ApiError::NotFound);
    }
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &access.dialogue.id,
            round_id: Some(&round_id),
            actor_id: Some(auth.id()),
            action: "participant.removed",
            target_type: "user",
            target_id: Some(&user_id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
