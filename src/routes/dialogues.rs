//! Dialogue series: formats, dialogues, co-organizers and the audit trail.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use sea_orm::{IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access;
use crate::auth::AuthUser;
use crate::domain::account::email_key;
use crate::domain::dialogue::{self, Format, Preset, Rule, Side, SideInput};
use crate::domain::text;
use crate::entities::{audit_entry, dialogue as dialogue_entity};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store::audit::Entry;
use crate::{db, store};

/// Routes at the top of `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(formats)
        .service(create_dialogue)
        .service(list_dialogues);
}

/// Routes under a dialogue, `/dialogues/{dialogue_id}`: paths here are relative to it.
pub fn dialogue(cfg: &mut ServiceConfig) {
    cfg.service(get_dialogue)
        .service(patch_dialogue)
        .service(add_organizer)
        .service(remove_organizer)
        .service(audit);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SideBody {
    /// a-z, 0-9 and _, unique in the dialogue; participants refer to it.
    #[schema(pattern = "^[a-z0-9_]{1,40}$")]
    pub key: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub country: Option<String>,
    #[schema(minimum = 1, maximum = 200)]
    pub delegation_limit: Option<i64>,
    /// Custom format only: a neutral side is outside the parity check.
    pub neutral: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Neemrana Dialogue", "description": "Track II dialogue between India and Pakistan",
    "format": "neemrana",
    "sides": [
        {"key": "india", "name": "India", "country": "India", "delegation_limit": 8},
        {"key": "pakistan", "name": "Pakistan", "country": "Pakistan", "delegation_limit": 8}
    ],
    "parity_tolerance": 1, "rule": "chatham_house"
}))]
pub struct CreateDialogue {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(min_length = 1, max_length = 4000)]
    pub description: Option<String>,
    /// `neemrana`, `chaophraya` or `custom`.
    #[schema(value_type = Format)]
    pub format: String,
    /// Omitted: the format's preset sides.
    pub sides: Option<Vec<SideBody>>,
    /// How much delegation sizes may differ (0–50).
    #[schema(minimum = 0, maximum = 50)]
    pub parity_tolerance: Option<i64>,
    /// `chatham_house` (default) or `private_notes_only`.
    #[schema(value_type = Option<Rule>)]
    pub rule: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SidePatch {
    pub key: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub country: Option<String>,
    #[schema(minimum = 1, maximum = 200)]
    pub delegation_limit: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Round-robin venues since 1991", "parity_tolerance": 0}))]
pub struct PatchDialogue {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::routes::me::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub description: Option<Option<String>>,
    #[schema(minimum = 0, maximum = 50)]
    pub parity_tolerance: Option<i64>,
    #[schema(value_type = Option<Rule>)]
    pub rule: Option<String>,
    /// Changes to existing sides, by key (keys themselves are fixed).
    pub sides: Option<Vec<SidePatch>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "co-organizer@example.org"}))]
pub struct AddOrganizer {
    pub user_id: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct DialogueView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub format: String,
    pub sides: Vec<Side>,
    pub parity_tolerance: i32,
    pub rule: String,
    /// Whether the caller organizes this dialogue.
    pub organizer: bool,
    /// Organizers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizers: Option<Vec<Person>>,
    /// Neemrana: the country suggested for the next round's venue.
    pub next_venue_country: Option<String>,
}

async fn view(
    state: &AppState,
    d: dialogue_entity::Model,
    organizer: bool,
) -> ApiResult<DialogueView> {
    let sides = store::dialogues::sides(&state.db, &d.id).await?;
    let format: Format = d.format.parse().unwrap_or(Format::Custom);
    let last = store::rounds::last_venue_country(&state.db, &d.id).await?;
    let organizers = if organizer {
        Some(
            store::dialogues::organizers(&state.db, &d.id)
                .await?
                .into_iter()
                .map(|u| Person {
                    id: u.id,
                    display_name: u.display_name,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(DialogueView {
        next_venue_country: dialogue::suggest_venue_country(format, &sides, last.as_deref()),
        id: d.id,
        name: d.name,
        description: d.description,
        format: d.format,
        sides,
        parity_tolerance: d.parity_tolerance,
        rule: d.rule,
        organizer,
        organizers,
    })
}

fn parse_rule(value: Option<&str>, default: Rule, errors: &mut Vec<FieldError>) -> Rule {
    match value {
        None => default,
        Some(r) => r.parse().unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "rule",
                "must be chatham_house or private_notes_only",
            ));
            default
        }),
    }
}

fn parse_tolerance(value: Option<i64>, default: i32, errors: &mut Vec<FieldError>) -> i32 {
    match value {
        None => default,
        Some(t) if (0..=50).contains(&t) => t as i32,
        Some(_) => {
            errors.push(FieldError::new(
                "parity_tolerance",
                "must be between 0 and 50",
            ));
            default
        }
    }
}

/// The dialogue formats and what each fills in.
#[utoipa::path(tag = "dialogues", security(("bearer" = [])), responses((status = 200, body = Vec<Preset>), (status = 401, body = Problem)))]
#[get("/formats")]
async fn formats(_auth: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(
        Format::ALL
            .into_iter()
            .map(dialogue::preset)
            .collect::<Vec<_>>(),
    )
}

/// Creates a dialogue series; the caller becomes its first organizer.
#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    request_body = CreateDialogue,
    responses((status = 201, body = DialogueView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[post("/dialogues")]
async fn create_dialogue(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateDialogue>,
) -> ApiResult<HttpResponse> {
    access::require_dialogue_creator(&state.db, &auth, &state.settings).await?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = text::line("name", &body.name, 200)
        .map_err(|e| errors.push(e))
        .ok();
    let description = match body.description.as_deref() {
        Some(d) => text::body("description", d, 4000)
            .map_err(|e| errors.push(e))
            .ok(),
        None => None,
    };
    let format: Option<Format> = body
        .format
        .parse()
        .map_err(|_| {
            errors.push(FieldError::new(
                "format",
                "must be neemrana, chaophraya or custom",
            ))
        })
        .ok();
    let preset = dialogue::preset(format.unwrap_or(Format::Custom));
    let parity_tolerance =
        parse_tolerance(body.parity_tolerance, preset.parity_tolerance, &mut errors);
    let rule = parse_rule(body.rule.as_deref(), preset.rule, &mut errors);
    let sides_input = body.sides.map(|sides| {
        sides
            .into_iter()
            .map(|s| SideInput {
                key: s.key,
                name: s.name,
                country: s.country,
                delegation_limit: s.delegation_limit,
                neutral: s.neutral,
            })
            .collect()
    });
    let sides = match format {
        Some(f) => dialogue::sides_for(f, sides_input)
            .map_err(|e| errors.extend(e))
            .ok(),
        None => None,
    };
    let (Some(name), Some(format), Some(sides)) = (name, format, sides) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tx = db::begin_write(&state.db).await?;
    let d = store::dialogues::create(
        &tx,
        store::dialogues::NewDialogue {
            name,
            description,
            format,
            parity_tolerance,
            rule,
            sides,
        },
        auth.id(),
    )
    .await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &d.id,
            round_id: None,
            actor_id: Some(auth.id()),
            action: "dialogue.created",
            target_type: "dialogue",
            target_id: Some(&d.id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(view(&state, d, true).await?))
}

/// The dialogues the caller organizes or takes part in.
#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<DialogueView>), (status = 400, body = Problem), (status = 401, body = Problem))
)]
#[get("/dialogues")]
async fn list_dialogues(
    auth: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit()?;
    let found =
        store::dialogues::list_visible(&state.db, auth.id(), query.cursor()?, limit).await?;
    let organized = store::dialogues::organizer_of(&state.db, auth.id()).await?;
    let mut items = Vec::with_capacity(found.len());
    for d in found {
        let organizer = organized.contains(&d.id);
        items.push(view(&state, d, organizer).await?);
    }
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |d| d.id.clone())))
}

#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path)),
    responses((status = 200, body = DialogueView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("")] // /dialogues/{dialogue_id}
async fn get_dialogue(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    Ok(HttpResponse::Ok().json(view(&state, access.dialogue, access.organizer).await?))
}

/// Edits the dialogue (organizers).
#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path)),
    request_body = PatchDialogue,
    responses((status = 200, body = DialogueView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[patch("")] // /dialogues/{dialogue_id}
async fn patch_dialogue(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PatchDialogue>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    access.require_organizer()?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let current_sides = store::dialogues::sides(&state.db, &access.dialogue.id).await?;
    let mut model = access.dialogue.clone().into_active_model();
    if let Some(name) = body.name
        && let Ok(name) = text::line("name", &name, 200).map_err(|e| errors.push(e))
    {
        model.name = Set(name);
    }
    match body.description {
        Some(Some(d)) => {
            if let Ok(d) = text::body("description", &d, 4000).map_err(|e| errors.push(e)) {
                model.description = Set(Some(d));
            }
        }
        Some(None) => model.description = Set(None),
        None => {}
    }
    if body.parity_tolerance.is_some() {
        model.parity_tolerance = Set(parse_tolerance(
            body.parity_tolerance,
            access.dialogue.parity_tolerance,
            &mut errors,
        ));
    }
    if body.rule.is_some() {
        model.rule = Set(
            parse_rule(body.rule.as_deref(), Rule::ChathamHouse, &mut errors)
                .as_str()
                .to_owned(),
        );
    }
    let mut side_updates = Vec::new();
    for (i, patch) in body.sides.unwrap_or_default().into_iter().enumerate() {
        let Some(mut side) = current_sides.iter().find(|s| s.key == patch.key).cloned() else {
            errors.push(FieldError::new(
                format!("sides[{i}].key"),
                "is not a side of this dialogue",
            ));
            continue;
        };
        if let Some(name) = patch.name {
            match text::line(&format!("sides[{i}].name"), &name, 100) {
                Ok(n) => side.name = n,
                Err(e) => errors.push(e),
            }
        }
        if let Some(country) = patch.country {
            match text::line(&format!("sides[{i}].country"), &country, 100) {
                Ok(c) => side.country = Some(c),
                Err(e) => errors.push(e),
            }
        }
        if let Some(limit) = patch.delegation_limit {
            if (1..=200).contains(&limit) {
                side.delegation_limit = limit as i32;
            } else {
                errors.push(FieldError::new(
                    format!("sides[{i}].delegation_limit"),
                    "must be between 1 and 200",
                ));
            }
        }
        side_updates.push(side);
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let tx = db::begin_write(&state.db).await?;
    let d = store::dialogues::touch(&tx, model).await?;
    for side in &side_updates {
        store::dialogues::update_side(&tx, &d.id, side).await?;
    }
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &d.id,
            round_id: None,
            actor_id: Some(auth.id()),
            action: "dialogue.updated",
            target_type: "dialogue",
            target_id: Some(&d.id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(view(&state, d, true).await?))
}

/// Adds a co-organizer by account id or email.
#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path)),
    request_body = AddOrganizer,
    responses((status = 201, body = Person), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[post("/organizers")] // /dialogues/{dialogue_id}/organizers
async fn add_organizer(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AddOrganizer>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    access.require_organizer()?;
    let user = match (&body.user_id, &body.email) {
        (Some(id), None) => store::users::find(&state.db, id).await?,
        (None, Some(email)) => {
            store::users::find_by_email_key(&state.db, &email_key(email)).await?
        }
        _ => {
            return Err(ApiError::invalid(
                "user_id",
                "give exactly one of user_id and email",
            ));
        }
    };
    let user = user
        .filter(|u| !u.disabled)
        .ok_or(ApiError::Unprocessable {
            code: "unknown_account",
            detail: "No active account matches; an admin creates accounts.".into(),
            extra: None,
        })?;
    let tx = db::begin_write(&state.db).await?;
    if store::dialogues::is_organizer(&tx, &access.dialogue.id, &user.id).await? {
        return Err(ApiError::conflict(
            "already_organizer",
            "This account already organizes the dialogue.",
        ));
    }
    store::dialogues::add_organizer(&tx, &access.dialogue.id, &user.id).await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &access.dialogue.id,
            round_id: None,
            actor_id: Some(auth.id()),
            action: "organizer.added",
            target_type: "user",
            target_id: Some(&user.id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Person {
        id: user.id,
        display_name: user.display_name,
    }))
}

/// Removes a co-organizer; the last one cannot be removed.
#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[delete("/organizers/{user_id}")] // /dialogues/{dialogue_id}/organizers/{user_id}
async fn remove_organizer(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (dialogue_id, user_id) = path.into_inner();
    let access = access::dialogue(&state.db, &auth, &dialogue_id).await?;
    access.require_organizer()?;
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "dialogues", &dialogue_id).await?;
    if !store::dialogues::is_organizer(&tx, &dialogue_id, &user_id).await? {
        return Err(ApiError::NotFound);
    }
    if store::dialogues::organizer_count(&tx, &dialogue_id).await? <= 1 {
        return Err(ApiError::conflict(
            "last_organizer",
            "A dialogue keeps at least one organizer.",
        ));
    }
    store::dialogues::remove_organizer(&tx, &dialogue_id, &user_id).await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &dialogue_id,
            round_id: None,
            actor_id: Some(auth.id()),
            action: "organizer.removed",
            target_type: "user",
            target_id: Some(&user_id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
    /// Only this action, e.g. `invitation.accepted`.
    pub action: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<String>,
    /// RFC 3339; entries before.
    pub until: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: Option<Person>,
    pub action: String,
    pub round_id: Option<String>,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

fn parse_time(field: &str, value: Option<&str>) -> ApiResult<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time"))
        })
        .transpose()
}

/// Who did what in the dialogue, newest first (organizers). Never notes.
#[utoipa::path(
    tag = "dialogues",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path), AuditQuery),
    responses((status = 200, body = Page<AuditView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/audit")] // /dialogues/{dialogue_id}/audit
async fn audit(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    access.require_organizer_or_hide()?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = page.limit()?;
    let before = page.number_cursor()?;
    let filter = store::audit::Filter {
        action: query.action.clone().filter(|a| a.len() <= 60),
        since: parse_time("since", query.since.as_deref())?,
        until: parse_time("until", query.until.as_deref())?,
    };
    let entries =
        store::audit::list(&state.db, &access.dialogue.id, &filter, before, limit).await?;
    let mut names = std::collections::HashMap::new();
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        items.push(audit_view(&state, e, &mut names).await?);
    }
    // Entries name the people who acted: roster data (DESIGN.md §4.8).
    Ok(super::no_store(HttpResponse::Ok()).json(Page::new(items, limit, |e| e.id.clone())))
}

async fn audit_view(
    state: &AppState,
    e: audit_entry::Model,
    names: &mut std::collections::HashMap<String, String>,
) -> ApiResult<AuditView> {
    let actor = match e.actor_id {
        Some(id) => {
            if !names.contains_key(&id) {
                let name = store::users::find(&state.db, &id)
                    .await?
                    .map(|u| u.display_name)
                    .unwrap_or_default();
                names.insert(id.clone(), name);
            }
            Some(Person {
                display_name: names[&id].clone(),
                id,
            })
        }
        None => None,
    };
    Ok(AuditView {
        id: e.id.to_string(),
        at: e.created_at,
        actor,
        action: e.action,
        round_id: e.round_id,
        target_type: e.target_type,
        target_id: e.target_id,
        detail: e
            .detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .or(Some(json!(null)))
            .filter(|v| !v.is_null()),
    })
}
