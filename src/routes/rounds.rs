//! Rounds of a dialogue: scheduling, lifecycle and readiness.

use actix_web::{HttpResponse, get, patch, post, web};
use chrono::NaiveDate;
use sea_orm::{IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access::{self, RoundAccess, RoundCaller};
use crate::auth::AuthUser;
use crate::domain::dialogue::{self, Format};
use crate::domain::readiness::{self, Check};
use crate::domain::rights::Action;
use crate::domain::round::RoundStatus;
use crate::domain::text;
use crate::domain::webhooks::Event;
use crate::entities::round;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store::audit::Entry;
use crate::{db, store};

/// Routes under a dialogue, `/dialogues/{dialogue_id}`: paths here are relative to it.
pub fn dialogue(cfg: &mut ServiceConfig) {
    cfg.service(create_round).service(list_rounds);
}

/// Routes under a round, `/rounds/{round_id}`: paths here are relative to it.
pub fn round(cfg: &mut ServiceConfig) {
    cfg.service(get_round)
        .service(patch_round)
        .service(change_status)
        .service(get_readiness);
}

#[derive(Deserialize, Serialize, ToSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Venue {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub country: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Neemrana Dialogue, round 1",
    "venue": {"name": "Neemrana Fort-Palace", "city": "Neemrana", "country": "India"},
    "timezone": "Asia/Kolkata", "starts_on": "2027-02-10", "ends_on": "2027-02-12"
}))]
pub struct CreateRound {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Neemrana: a missing country is filled with the alternating suggestion.
    pub venue: Option<Venue>,
    /// IANA time zone of the venue, e.g. `Asia/Kolkata`.
    pub timezone: String,
    /// `YYYY-MM-DD`
    #[schema(format = Date)]
    pub starts_on: String,
    /// `YYYY-MM-DD`, not before `starts_on`.
    #[schema(format = Date)]
    pub ends_on: String,
    /// Defaults to the dialogue's rule.
    #[schema(value_type = Option<dialogue::Rule>)]
    pub rule: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Round 1 (revised)", "ends_on": "2027-02-13"}))]
pub struct PatchRound {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    pub venue: Option<Venue>,
    pub timezone: Option<String>,
    #[schema(format = Date)]
    pub starts_on: Option<String>,
    #[schema(format = Date)]
    pub ends_on: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "scheduled"}))]
pub struct StatusChange {
    /// `scheduled`, `in_session`, `concluded`, `archived` or `cancelled`.
    #[schema(value_type = RoundStatus)]
    pub status: String,
    /// Organizers: go into session although readiness checks fail (audited).
    #[serde(default)]
    pub force: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RoundView {
    pub id: String,
    pub dialogue_id: String,
    pub sequence: i32,
    pub title: String,
    pub venue: Venue,
    pub timezone: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: String,
    pub rule: String,
    /// The caller's role in the round, if any.
    pub my_role: Option<String>,
    /// Statuses the round may move to next.
    pub allowed_transitions: Vec<RoundStatus>,
}

pub fn round_view(r: round::Model, my_role: Option<String>) -> RoundView {
    let status: RoundStatus = r.status.parse().unwrap_or(RoundStatus::Archived);
    RoundView {
        venue: Venue {
            name: r.venue_name,
            city: r.venue_city,
            country: r.venue_country,
        },
        id: r.id,
        dialogue_id: r.dialogue_id,
        sequence: r.sequence,
        title: r.title,
        timezone: r.timezone,
        starts_on: r.starts_on,
        ends_on: r.ends_on,
        status: r.status,
        rule: r.rule,
        my_role,
        allowed_transitions: status.next().to_vec(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// True when every check passes.
    pub ready: bool,
    pub checks: Vec<Check>,
}

fn parse_date(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let parsed = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10);
    if parsed.is_none() {
        errors.push(FieldError::new(field, "must be a date as YYYY-MM-DD"));
    }
    parsed
}

fn parse_timezone(value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match value.parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz.name().to_owned()),
        Err(_) => {
            errors.push(FieldError::new(
                "timezone",
                "must be an IANA time zone such as Asia/Kolkata",
            ));
            None
        }
    }
}

fn venue_part(
    field: &str,
    value: Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    value.and_then(|v| text::line(field, &v, max).map_err(|e| errors.push(e)).ok())
}

/// Schedules a new round; its sequence number is the next of the dialogue.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path)),
    request_body = CreateRound,
    responses((status = 201, body = RoundView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[post("/rounds")] // /dialogues/{dialogue_id}/rounds
async fn create_round(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateRound>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    access.require_organizer()?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let title = text::line("title", &body.title, 200)
        .map_err(|e| errors.push(e))
        .ok();
    let timezone = parse_timezone(&body.timezone, &mut errors);
    let starts_on = parse_date("starts_on", &body.starts_on, &mut errors);
    let ends_on = parse_date("ends_on", &body.ends_on, &mut errors);
    if let (Some(s), Some(e)) = (starts_on, ends_on)
        && e < s
    {
        errors.push(FieldError::new("ends_on", "must not be before starts_on"));
    }
    let venue = body.venue.unwrap_or_default();
    let venue_name = venue_part("venue.name", venue.name, 200, &mut errors);
    let venue_city = venue_part("venue.city", venue.city, 100, &mut errors);
    let mut venue_country = venue_part("venue.country", venue.country, 100, &mut errors);
    let rule = match body.rule {
        Some(r) => match r.parse::<dialogue::Rule>() {
            Ok(r) => r.as_str().to_owned(),
            Err(_) => {
                errors.push(FieldError::new(
                    "rule",
                    "must be chatham_house or private_notes_only",
                ));
                String::new()
            }
        },
        None => access.dialogue.rule.clone(),
    };
    let (Some(title), Some(timezone), Some(starts_on), Some(ends_on)) =
        (title, timezone, starts_on, ends_on)
    else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tx = db::begin_write(&state.db).await?;
    if venue_country.is_none() {
        let format: Format = access.dialogue.format.parse().unwrap_or(Format::Custom);
        let sides = store::dialogues::sides(&tx, &access.dialogue.id).await?;
        let last = store::rounds::last_venue_country(&tx, &access.dialogue.id).await?;
        venue_country = dialogue::suggest_venue_country(format, &sides, last.as_deref());
    }
    let round = store::rounds::create(
        &tx,
        &access.dialogue.id,
        store::rounds::NewRound {
            title,
            venue_name,
            venue_city,
            venue_country,
            timezone,
            starts_on,
            ends_on,
            rule,
        },
    )
    .await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &round.dialogue_id,
            round_id: Some(&round.id),
            actor_id: Some(auth.id()),
            action: "round.created",
            target_type: "round",
            target_id: Some(&round.id),
            detail: Some(json!({"sequence": round.sequence})),
        },
    )
    .await?;
    store::webhooks::emit(
        &tx,
        &round.dialogue_id,
        Event::RoundCreated,
        json!({"round_id": round.id, "sequence": round.sequence, "status": round.status}),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(round_view(round, None)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoundsQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
    /// Only rounds in this status.
    #[param(value_type = Option<RoundStatus>)]
    pub status: Option<String>,
    /// `YYYY-MM-DD`: rounds ending on or after.
    #[param(format = Date)]
    pub from: Option<String>,
    /// `YYYY-MM-DD`: rounds starting on or before.
    #[param(format = Date)]
    pub to: Option<String>,
}

/// The dialogue's rounds the caller may see (organizers: all; members: their own), by sequence.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path), RoundsQuery),
    responses((status = 200, body = Page<RoundView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/rounds")] // /dialogues/{dialogue_id}/rounds
async fn list_rounds(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RoundsQuery>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = page.limit()?;
    let after = page.number_cursor()?;
    let mut errors = Vec::new();
    let status = match query.status.as_deref() {
        Some(s) => Some(
            s.parse::<RoundStatus>()
                .map_err(|_| ApiError::invalid("status", "is not a round status"))?,
        ),
        None => None,
    };
    let from = query
        .from
        .as_deref()
        .and_then(|d| parse_date("from", d, &mut errors));
    let to = query
        .to
        .as_deref()
        .and_then(|d| parse_date("to", d, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let member = (!access.organizer).then(|| auth.id());
    let rounds = store::rounds::list(
        &state.db,
        &access.dialogue.id,
        member,
        &store::rounds::ListFilter { status, from, to },
        after,
        limit,
    )
    .await?;
    let memberships = store::participants::memberships(&state.db, auth.id()).await?;
    let items: Vec<RoundView> = rounds
        .into_iter()
        .map(|r| {
            let role = memberships
                .iter()
                .find(|m| m.round_id == r.id)
                .map(|m| m.role.clone());
            round_view(r, role)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |r| r.sequence.to_string())))
}

#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 200, body = RoundView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("")] // /rounds/{round_id}
async fn get_round(caller: RoundCaller) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRound)?;
    let role = access.role().map(|r| r.as_str().to_owned());
    Ok(HttpResponse::Ok().json(round_view(access.round, role)))
}

/// Edits the round's logistics (organizers and the convenor).
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = PatchRound,
    responses((status = 200, body = RoundView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[patch("")] // /rounds/{round_id}
async fn patch_round(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<PatchRound>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    access.require(Action::ManageRound)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let body = body.into_inner();
    let mut errors = Vec::new();
    let mut model = access.round.clone().into_active_model();
    if let Some(title) = body.title
        && let Ok(t) = text::line("title", &title, 200).map_err(|e| errors.push(e))
    {
        model.title = Set(t);
    }
    if let Some(venue) = body.venue {
        model.venue_name = Set(venue_part("venue.name", venue.name, 200, &mut errors));
        model.venue_city = Set(venue_part("venue.city", venue.city, 100, &mut errors));
        model.venue_country = Set(venue_part("venue.country", venue.country, 100, &mut errors));
    }
    if let Some(tz) = body.timezone
        && let Some(tz) = parse_timezone(&tz, &mut errors)
    {
        model.timezone = Set(tz);
    }
    let starts_on = match body.starts_on {
        Some(d) => parse_date("starts_on", &d, &mut errors),
        None => Some(access.round.starts_on),
    };
    let ends_on = match body.ends_on {
        Some(d) => parse_date("ends_on", &d, &mut errors),
        None => Some(access.round.ends_on),
    };
    if let (Some(s), Some(e)) = (starts_on, ends_on) {
        if e < s {
            errors.push(FieldError::new("ends_on", "must not be before starts_on"));
        }
        model.starts_on = Set(s);
        model.ends_on = Set(e);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // Which fields changed, by name: receivers read the values through the API.
    let changed = changed_fields(&access.round, &model);
    let tx = db::begin_write(&state.db).await?;
    let round = store::rounds::update(&tx, model).await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &round.dialogue_id,
            round_id: Some(&round.id),
            actor_id: Some(auth.id()),
            action: "round.updated",
            target_type: "round",
            target_id: Some(&round.id),
            detail: None,
        },
    )
    .await?;
    if !changed.is_empty() {
        store::webhooks::emit(
            &tx,
            &round.dialogue_id,
            Event::RoundUpdated,
            json!({"round_id": round.id, "sequence": round.sequence, "changed": changed}),
        )
        .await?;
    }
    tx.commit().await?;
    let role = access.role().map(|r| r.as_str().to_owned());
    Ok(HttpResponse::Ok().json(round_view(round, role)))
}

/// The names of the round fields a PATCH changes (venue and dates as one name each).
fn changed_fields(before: &round::Model, after: &round::ActiveModel) -> Vec<&'static str> {
    fn differs<T: PartialEq + Clone + Into<sea_orm::Value>>(
        now: &sea_orm::ActiveValue<T>,
        was: &T,
    ) -> bool {
        matches!(now, sea_orm::ActiveValue::Set(v) if v != was)
    }
    let mut changed = Vec::new();
    if differs(&after.title, &before.title) {
        changed.push("title");
    }
    if differs(&after.venue_name, &before.venue_name)
        || differs(&after.venue_city, &before.venue_city)
        || differs(&after.venue_country, &before.venue_country)
    {
        changed.push("venue");
    }
    if differs(&after.timezone, &before.timezone) {
        changed.push("timezone");
    }
    if differs(&after.starts_on, &before.starts_on) || differs(&after.ends_on, &before.ends_on) {
        changed.push("dates");
    }
    changed
}

/// Readiness checks for the round, from the current roster and agenda.
pub async fn readiness_of(state: &AppState, access: &RoundAccess) -> ApiResult<Readiness> {
    let sides = store::dialogues::sides(&state.db, &access.dialogue.id).await?;
    let members = store::participants::roles(&state.db, &access.round.id).await?;
    let agenda = match store::agenda::latest_version(&state.db, &access.round.id).await? {
        Some(v) => readiness::Agenda::Published {
            version: v.number,
            items: store::agenda::snapshot_items(&v).len(),
        },
        None => readiness::Agenda::Unpublished {
            items: store::agenda::count(&state.db, &access.round.id).await? as usize,
        },
    };
    let checks = readiness::checks(&sides, &members, access.dialogue.parity_tolerance, agenda);
    Ok(Readiness {
        ready: checks.iter().all(|c| c.passed),
        checks,
    })
}

/// Moves the round along its lifecycle; 409 lists the allowed transitions otherwise.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = StatusChange,
    responses((status = 200, body = RoundView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/status")] // /rounds/{round_id}/status
async fn change_status(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<StatusChange>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    access.require(Action::ManageRound)?;
    let to: RoundStatus = body
        .status
        .parse()
        .map_err(|_| ApiError::invalid("status", "is not a round status"))?;
    let from = access.status();
    if !from.can_move_to(to) {
        return Err(ApiError::Conflict {
            code: "illegal_transition",
            detail: format!("A {} round cannot become {}.", from.as_str(), to.as_str()),
            extra: Some(json!({"allowed": from.next()})),
        });
    }
    let mut forced = false;
    if to == RoundStatus::InSession {
        let readiness = readiness_of(&state, &access).await?;
        if !readiness.ready {
            if !body.force {
                return Err(ApiError::Conflict {
                    code: "not_ready",
                    detail: "Readiness checks fail; an organizer may pass force: true.".into(),
                    extra: Some(json!({"checks": readiness.checks})),
                });
            }
            if !access.organizer {
                return Err(ApiError::Forbidden(
                    "Only organizers may force a round into session.",
                ));
            }
            forced = true;
        }
    }
    let tx = db::begin_write(&state.db).await?;
    if !store::rounds::set_status(&tx, &access.round.id, from, to).await? {
        return Err(ApiError::conflict(
            "status_changed",
            "The round's status changed meanwhile; read it again.",
        ));
    }
    if to == RoundStatus::Concluded {
        // Every held note goes to the round together, as one batch.
        crate::routes::notes::release_if_allowed(&tx, &state, &access.round.id, None).await?;
    }
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &access.round.dialogue_id,
            round_id: Some(&access.round.id),
            actor_id: Some(auth.id()),
            action: if forced {
                "round.status_forced"
            } else {
                "round.status_changed"
            },
            target_type: "round",
            target_id: Some(&access.round.id),
            detail: Some(json!({"from": from.as_str(), "to": to.as_str()})),
        },
    )
    .await?;
    store::webhooks::emit(
        &tx,
        &access.round.dialogue_id,
        Event::RoundStatusChanged,
        json!({"round_id": access.round.id, "sequence": access.round.sequence,
               "from": from.as_str(), "to": to.as_str()}),
    )
    .await?;
    tx.commit().await?;
    let round = store::rounds::find(&state.db, &access.round.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let role = access.role().map(|r| r.as_str().to_owned());
    Ok(HttpResponse::Ok().json(round_view(round, role)))
}

/// What blocks the round from going into session.
#[utoipa::path(
    tag = "rounds",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 200, body = Readiness), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/readiness")] // /rounds/{round_id}/readiness
async fn get_readiness(caller: RoundCaller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRound)?;
    Ok(HttpResponse::Ok().json(readiness_of(&state, &access).await?))
}
