//! The agenda of a round, and its history across rounds.
//!
//! Editors (organizers, convenor, co-chairs, facilitators) work on a draft; `publish` freezes a
//! numbered version, and the other participants see the latest published version. Time slots
//! are RFC 3339 instants stored in UTC and shown in the venue's zone. An item carried forward
//! into a later round keeps its lineage, so a topic can be followed through twenty rounds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access::{self, RoundAccess, RoundCaller};
use crate::attribution;
use crate::auth::AuthUser;
use crate::domain::agenda::{
    self, ItemKind, ItemStatus, MAX_TOPICS, SlotError, VersionDiff, VersionItem,
};
use crate::domain::rights::Action;
use crate::domain::text;
use crate::domain::webhooks::Event;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store::agenda::{Item, MAX_ITEMS_PER_ROUND};
use crate::store::audit::Entry;
use crate::{db, store};

/// Routes under a round, `/rounds/{round_id}`: paths here are relative to it.
pub fn round(cfg: &mut ServiceConfig) {
    cfg.service(create_item)
        .service(list_items)
        .service(reorder_items)
        .service(publish_agenda)
        .service(list_versions)
        .service(get_version)
        .service(round_ics);
}

/// Routes under an agenda item, `/agenda/{item_id}`: paths here are relative to it.
pub fn item(cfg: &mut ServiceConfig) {
    cfg.service(get_item)
        .service(patch_item)
        .service(delete_item)
        .service(change_item_status)
        .service(carry_item_forward)
        .service(get_lineage);
}

/// Routes under a dialogue, `/dialogues/{dialogue_id}`: paths here are relative to it.
pub fn dialogue(cfg: &mut ServiceConfig) {
    cfg.service(list_topics).service(topic_history);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Water: the Indus Waters Treaty", "description": "Data sharing and the permanent commission",
    "kind": "session", "topics": ["water", "Indus Waters Treaty"],
    "starts_at": "2027-02-10T09:30:00+05:30", "ends_at": "2027-02-10T11:00:00+05:30", "leads": []
}))]
pub struct CreateItem {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(min_length = 1, max_length = 4000)]
    pub description: Option<String>,
    /// `session` (default), `break` or `social`.
    #[schema(value_type = Option<ItemKind>)]
    pub kind: Option<String>,
    /// Up to 20; stored as lowercase slugs.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub topics: Vec<String>,
    /// RFC 3339 with offset.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// User ids of participants of the round.
    #[serde(default)]
    pub leads: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Water", "starts_at": null, "ends_at": null}))]
pub struct PatchItem {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "crate::routes::me::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 4000)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<ItemKind>)]
    pub kind: Option<String>,
    #[schema(max_items = 20)]
    pub topics: Option<Vec<String>>,
    /// `null` with `ends_at: null` removes the slot.
    #[serde(default, deserialize_with = "crate::routes::me::double_option")]
    #[schema(value_type = Option<String>)]
    pub starts_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::me::double_option")]
    #[schema(value_type = Option<String>)]
    pub ends_at: Option<Option<String>>,
    pub leads: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"item_ids": ["3f1c…", "9a7e…", "c2d4…"]}))]
pub struct OrderBody {
    /// Every item id of the round, once, in the new order.
    pub item_ids: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "concluded", "outcome": "Both sides favour resuming the commission's meetings.", "redact": false}))]
pub struct StatusBody {
    pub status: ItemStatus,
    /// A non-attributed account of what was decided; checked by the attribution guard.
    #[schema(min_length = 1, max_length = 4000)]
    pub outcome: Option<String>,
    /// Replace mentions of participants instead of refusing them.
    #[serde(default)]
    pub redact: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"round_id": "the id of a later round of the same dialogue"}))]
pub struct CarryForwardBody {
    /// A later round of the same dialogue.
    pub round_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct Lead {
    pub user_id: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ItemView {
    pub id: String,
    pub round_id: String,
    pub lineage_id: String,
    pub position: i32,
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    pub topics: Vec<String>,
    /// In the round's zone, with its offset.
    pub starts_at: Option<DateTime<FixedOffset>>,
    pub ends_at: Option<DateTime<FixedOffset>>,
    pub timezone: String,
    pub leads: Vec<Lead>,
    pub status: String,
    /// Members of the round only.
    pub outcome: Option<String>,
    pub revision: i32,
}

#[derive(Serialize, ToSchema)]
pub struct AgendaView {
    pub round_id: String,
    /// `draft` (editors: the working agenda) or `published` (the latest published version).
    pub view: String,
    /// The latest published version, if any.
    pub published_version: Option<i32>,
    pub items: Vec<ItemView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionSummary {
    pub number: i32,
    pub published_at: DateTime<Utc>,
    pub items: usize,
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub number: i32,
    pub published_at: DateTime<Utc>,
    pub items: Vec<VersionItem>,
    /// Compared with the previous version (everything is `added` in version 1).
    pub changes: VersionDiff,
}

#[derive(Serialize, ToSchema)]
pub struct LineageEntry {
    pub round_id: String,
    pub round_sequence: i32,
    pub round_title: String,
    pub item_id: String,
    pub title: String,
    pub status: String,
    pub outcome: Option<String>,
    /// Status changes with their dates (who changed them is in the audit trail).
    pub history: Vec<HistoryEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    pub from: String,
    pub to: String,
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct TopicCount {
    pub topic: String,
    pub items: u64,
    pub rounds: u64,
}

#[derive(Serialize, ToSchema)]
pub struct TopicRound {
    pub round_id: String,
    pub round_sequence: i32,
    pub round_title: String,
    pub items: Vec<TopicItem>,
}

#[derive(Serialize, ToSchema)]
pub struct TopicItem {
    pub item_id: String,
    pub lineage_id: String,
    pub title: String,
    pub status: String,
    pub outcome: Option<String>,
}

fn zone(access: &RoundAccess) -> Tz {
    access.round.timezone.parse().unwrap_or(Tz::UTC)
}

fn etag(item: &Item) -> String {
    format!("\"{}\"", item.item.revision)
}

/// The outcome in clear, for those who may read the round's record.
fn outcome(
    state: &AppState,
    access: &RoundAccess,
    item: &crate::entities::agenda_item::Model,
) -> Option<String> {
    if !access.can(Action::ReadRecord) {
        return None;
    }
    let (sealed, key) = (item.outcome_sealed.as_ref()?, item.outcome_key_id.as_ref()?);
    let clear = state.cipher.open(key, sealed, item.id.as_bytes()).ok()?;
    String::from_utf8(clear).ok()
}

async fn names(state: &AppState, items: &[&Item]) -> ApiResult<HashMap<String, String>> {
    let ids: HashSet<&String> = items.iter().flat_map(|i| i.leads.iter()).collect();
    let ids = ids.into_iter().cloned().collect();
    Ok(store::users::display_names(&state.reader, ids)
        .await?
        .into_iter()
        .collect())
}

fn view(
    state: &AppState,
    access: &RoundAccess,
    item: Item,
    names: &HashMap<String, String>,
) -> ItemView {
    let tz = zone(access);
    let local = |t: Option<DateTime<Utc>>| t.map(|t| t.with_timezone(&tz).fixed_offset());
    ItemView {
        outcome: outcome(state, access, &item.item),
        starts_at: local(item.item.starts_at),
        ends_at: local(item.item.ends_at),
        timezone: access.round.timezone.clone(),
        leads: item
            .leads
            .iter()
            .map(|id| Lead {
                user_id: id.clone(),
                display_name: names.get(id).cloned().unwrap_or_default(),
            })
            .collect(),
        id: item.item.id,
        round_id: item.item.round_id,
        lineage_id: item.item.lineage_id,
        position: item.item.position,
        title: item.item.title,
        description: item.item.description,
        kind: item.item.kind,
        topics: item.topics,
        status: item.item.status,
        revision: item.item.revision,
    }
}

async fn item_response(
    state: &AppState,
    access: &RoundAccess,
    item: Item,
    status: actix_web::http::StatusCode,
) -> ApiResult<HttpResponse> {
    let tag = etag(&item);
    let names = names(state, &[&item]).await?;
    Ok(HttpResponse::build(status)
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view(state, access, item, &names)))
}

fn parse_instant(
    field: &str,
    value: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let value = value?;
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 time with an offset",
            ));
            None
        }
    }
}

fn parse_topics(topics: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if topics.len() > MAX_TOPICS {
        errors.push(FieldError::new(
            "topics",
            format!("must be at most {MAX_TOPICS}"),
        ));
        return vec![];
    }
    let mut out: Vec<String> = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        if t.chars().count() > 100 || t.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("topics[{i}]"),
                "must be at most 100 characters, without control characters",
            ));
            continue;
        }
        match agenda::topic_slug(t) {
            Some(slug) if !out.contains(&slug) => out.push(slug),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("topics[{i}]"),
                "must contain letters or digits",
            )),
        }
    }
    out.sort();
    out
}

fn parse_kind(kind: Option<&str>, errors: &mut Vec<FieldError>) -> ItemKind {
    match kind {
        None => ItemKind::Session,
        Some(k) => k.parse().unwrap_or_else(|_| {
            errors.push(FieldError::new("kind", "must be session, break or social"));
            ItemKind::Session
        }),
    }
}

async fn check_leads(
    db: &impl sea_orm::ConnectionTrait,
    round_id: &str,
    leads: &[String],
    errors: &mut Vec<FieldError>,
) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    if leads.len() > 20 {
        errors.push(FieldError::new("leads", "must be at most 20"));
        return Ok(out);
    }
    for (i, id) in leads.iter().enumerate() {
        if id.len() > 64 || store::participants::find(db, round_id, id).await?.is_none() {
            errors.push(FieldError::new(
                format!("leads[{i}]"),
                "is not a participant of the round",
            ));
        } else if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// The slot, checked against the round, once every field parsed (errors are collected).
fn checked_slot(
    access: &RoundAccess,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    errors: &mut Vec<FieldError>,
) -> Option<agenda::Slot> {
    if !errors.is_empty() {
        return None;
    }
    agenda::check_slot(
        starts_at,
        ends_at,
        zone(access),
        access.round.starts_on,
        access.round.ends_on,
    )
    .map_err(|e| errors.push(slot_error(e)))
    .ok()
    .flatten()
}

fn slot_error(e: SlotError) -> FieldError {
    match e {
        SlotError::Incomplete => {
            FieldError::new("ends_at", "give both starts_at and ends_at, or neither")
        }
        SlotError::EndNotAfterStart => FieldError::new("ends_at", "must be after starts_at"),
        SlotError::OutsideRound => FieldError::new(
            "starts_at",
            "must lie within the round's dates in the round's time zone",
        ),
    }
}

/// 422 naming the first timed item of the round whose slot overlaps `slot`.
async fn check_overlap(
    db: &impl sea_orm::ConnectionTrait,
    round_id: &str,
    except: Option<&str>,
    slot: (DateTime<Utc>, DateTime<Utc>),
) -> ApiResult<()> {
    for other in store::agenda::list(db, round_id).await? {
        if Some(other.item.id.as_str()) == except {
            continue;
        }
        if let (Some(s), Some(e)) = (other.item.starts_at, other.item.ends_at)
            && agenda::overlaps(slot, (s, e))
        {
            return Err(ApiError::Unprocessable {
                code: "slot_overlap",
                detail: "The time slot overlaps another item of the round.".into(),
                extra: Some(
                    json!({"errors": [{"field": "starts_at", "message": "overlaps another item"}], "clashes_with": {"id": other.item.id, "title": other.item.title}}),
                ),
            });
        }
    }
    Ok(())
}

fn require_open(access: &RoundAccess) -> ApiResult<()> {
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    Ok(())
}

fn audit<'a>(
    access: &'a RoundAccess,
    auth: &'a AuthUser,
    action: &'static str,
    item_id: &'a str,
    detail: Option<serde_json::Value>,
) -> Entry<'a> {
    Entry {
        dialogue_id: &access.dialogue.id,
        round_id: Some(&access.round.id),
        actor_id: Some(auth.id()),
        action,
        target_type: "agenda_item",
        target_id: Some(item_id),
        detail,
    }
}

/// Adds an item to the end of the round's agenda.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = CreateItem,
    responses((status = 201, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[post("/agenda")] // /rounds/{round_id}/agenda
async fn create_item(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<CreateItem>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    access.require(Action::EditAgenda)?;
    require_open(&access)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let title = text::line("title", &body.title, 200)
        .map_err(|e| errors.push(e))
        .ok();
    let description = body.description.as_deref().and_then(|d| {
        text::body("description", d, 4000)
            .map_err(|e| errors.push(e))
            .ok()
    });
    let kind = parse_kind(body.kind.as_deref(), &mut errors);
    let topics = parse_topics(&body.topics, &mut errors);
    let starts_at = parse_instant("starts_at", body.starts_at.as_deref(), &mut errors);
    let ends_at = parse_instant("ends_at", body.ends_at.as_deref(), &mut errors);
    let leads = check_leads(&state.db, &access.round.id, &body.leads, &mut errors).await?;
    let slot = checked_slot(&access, starts_at, ends_at, &mut errors);
    let Some(title) = title.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };

    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    if store::agenda::count(&tx, &access.round.id).await? >= MAX_ITEMS_PER_ROUND {
        return Err(ApiError::conflict(
            "agenda_full",
            "A round's agenda holds at most 200 items.",
        ));
    }
    if let Some(slot) = slot {
        check_overlap(&tx, &access.round.id, None, slot).await?;
    }
    let item = store::agenda::create(
        &tx,
        &access.round.id,
        store::agenda::NewItem {
            lineage_id: None,
            title,
            description,
            kind: kind.as_str().to_owned(),
            starts_at: slot.map(|s| s.0),
            ends_at: slot.map(|s| s.1),
            topics,
            leads,
        },
    )
    .await?;
    store::audit::record(
        &tx,
        audit(&access, &auth, "agenda.item_created", &item.item.id, None),
    )
    .await?;
    tx.commit().await?;
    item_response(&state, &access, item, actix_web::http::StatusCode::CREATED).await
}

/// The round's agenda: the working draft for editors, the latest published version for others.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 200, body = AgendaView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/agenda")] // /rounds/{round_id}/agenda
async fn list_items(caller: RoundCaller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRound)?;
    // The list depends on the round's agenda rows (its epoch), on the two rights that shape
    // it, and on the round's time zone; the same list goes to everyone who shares all three.
    let round = &access.round;
    let key = format!(
        "{}/{}/{}/{}",
        round.id,
        u8::from(access.can(Action::EditAgenda)),
        u8::from(access.can(Action::ReadRecord)),
        round.timezone
    );
    let body = match state.agendas.get(&key, round.agenda_epoch) {
        Some(body) => body,
        None => {
            let agenda = agenda_for(&state, &access).await?;
            let body = Arc::new(web::Bytes::from(
                serde_json::to_vec(&agenda).map_err(|_| ApiError::Internal)?,
            ));
            state
                .agendas
                .put(&key, round.agenda_epoch, Arc::clone(&body));
            body
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(web::Bytes::clone(&body)))
}

/// The agenda as `access` may see it.
pub async fn agenda_for(state: &AppState, access: &RoundAccess) -> ApiResult<AgendaView> {
    let latest = store::agenda::latest_version(&state.reader, &access.round.id).await?;
    let mut items = store::agenda::list(&state.reader, &access.round.id).await?;
    let editor = access.can(Action::EditAgenda);
    if !editor {
        // The published version's items, in its order, with their live status and outcome.
        let published = latest
            .as_ref()
            .map(store::agenda::snapshot_items)
            .unwrap_or_default();
        let mut by_id: HashMap<String, Item> =
            items.into_iter().map(|i| (i.item.id.clone(), i)).collect();
        items = published
            .into_iter()
            .filter_map(|p| Some(as_published(by_id.remove(&p.id)?, &p)))
            .collect();
    }
    let refs: Vec<&Item> = items.iter().collect();
    let names = names(state, &refs).await?;
    Ok(AgendaView {
        round_id: access.round.id.clone(),
        view: if editor { "draft" } else { "published" }.into(),
        published_version: latest.map(|v| v.number),
        items: items
            .into_iter()
            .map(|i| view(state, access, i, &names))
            .collect(),
        next_cursor: None,
    })
}

/// The item as the published version shows it, with its live status and outcome: what callers
/// who cannot edit the agenda see.
fn as_published(mut live: Item, p: &VersionItem) -> Item {
    live.item.position = p.position;
    live.item.title = p.title.clone();
    live.item.description = p.description.clone();
    live.item.kind = p.kind.as_str().to_owned();
    live.item.starts_at = p.starts_at;
    live.item.ends_at = p.ends_at;
    live.topics = p.topics.clone();
    live
}

/// The items of a round that `access` may see: all of them for agenda editors, the published
/// ones (as published) for everyone else.
async fn visible_items(
    state: &AppState,
    access: &RoundAccess,
    items: Vec<Item>,
) -> ApiResult<Vec<Item>> {
    if access.can(Action::EditAgenda) {
        return Ok(items);
    }
    let published = match store::agenda::latest_version(&state.reader, &access.round.id).await? {
        Some(v) => store::agenda::snapshot_items(&v),
        None => return Ok(vec![]),
    };
    Ok(items
        .into_iter()
        .filter_map(|i| {
            let p = published.iter().find(|p| p.id == i.item.id)?;
            Some(as_published(i, p))
        })
        .collect())
}

/// An item and the access its round gives the caller; 404 for non-members and, for those who
/// see only the published agenda, for items not in it.
pub async fn load_item(
    state: &AppState,
    auth: &AuthUser,
    item_id: &str,
) -> ApiResult<(Item, RoundAccess)> {
    let item = store::agenda::find(&state.reader, item_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = access::round(&state.reader, auth, &item.item.round_id).await?;
    if !access.can(Action::EditAgenda) {
        let latest = store::agenda::latest_version(&state.reader, &access.round.id).await?;
        let published = latest
            .map(|v| store::agenda::snapshot_items(&v))
            .unwrap_or_default();
        let Some(p) = published.iter().find(|p| p.id == item.item.id) else {
            return Err(ApiError::NotFound);
        };
        return Ok((as_published(item, p), access));
    }
    Ok((item, access))
}

#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    responses((status = 200, body = ItemView, headers(("ETag" = String))), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("")] // /agenda/{item_id}
async fn get_item(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (item, access) = load_item(&state, &auth, &path).await?;
    item_response(&state, &access, item, actix_web::http::StatusCode::OK).await
}

/// Edits an item. With `If-Match`, refuses (412) when the item changed since it was read.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("item_id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag of the item as last read")),
    request_body = PatchItem,
    responses((status = 200, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem))
)]
#[patch("")] // /agenda/{item_id}
async fn patch_item(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PatchItem>,
) -> ApiResult<HttpResponse> {
    let (item, access) = load_item(&state, &auth, &path).await?;
    access.require(Action::EditAgenda)?;
    require_open(&access)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let mut model = item.item.clone();
    if let Some(t) = body.title
        && let Ok(t) = text::line("title", &t, 200).map_err(|e| errors.push(e))
    {
        model.title = t;
    }
    match body.description {
        Some(Some(d)) => {
            if let Ok(d) = text::body("description", &d, 4000).map_err(|e| errors.push(e)) {
                model.description = Some(d);
            }
        }
        Some(None) => model.description = None,
        None => {}
    }
    if let Some(k) = body.kind {
        model.kind = parse_kind(Some(&k), &mut errors).as_str().to_owned();
    }
    let topics = body.topics.map(|t| parse_topics(&t, &mut errors));
    let leads = match body.leads {
        Some(l) => Some(check_leads(&state.db, &access.round.id, &l, &mut errors).await?),
        None => None,
    };
    let starts_at = match &body.starts_at {
        Some(v) => parse_instant("starts_at", v.as_deref(), &mut errors),
        None => model.starts_at,
    };
    let ends_at = match &body.ends_at {
        Some(v) => parse_instant("ends_at", v.as_deref(), &mut errors),
        None => model.ends_at,
    };
    let slot = checked_slot(&access, starts_at, ends_at, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    model.starts_at = slot.map(|s| s.0);
    model.ends_at = slot.map(|s| s.1);

    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    let current = store::agenda::find(&tx, &item.item.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(expected) = req.headers().get(header::IF_MATCH)
        && expected.as_bytes() != etag(&current).as_bytes()
        && expected.as_bytes() != b"*"
    {
        return Err(ApiError::PreconditionFailed);
    }
    if let Some(slot) = slot {
        check_overlap(&tx, &access.round.id, Some(&current.item.id), slot).await?;
    }
    model.revision = current.item.revision;
    model.position = current.item.position;
    model.status = current.item.status.clone();
    let updated = store::agenda::update(&tx, model, topics.as_deref(), leads.as_deref()).await?;
    store::audit::record(
        &tx,
        audit(
            &access,
            &auth,
            "agenda.item_updated",
            &updated.item.id,
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    item_response(&state, &access, updated, actix_web::http::StatusCode::OK).await
}

#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[delete("")] // /agenda/{item_id}
async fn delete_item(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (item, access) = load_item(&state, &auth, &path).await?;
    access.require(Action::EditAgenda)?;
    require_open(&access)?;
    if item.item.status != ItemStatus::Planned.as_str() {
        return Err(ApiError::conflict(
            "item_in_use",
            "Only a planned item can be deleted; drop it instead.",
        ));
    }
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    let current = store::agenda::find(&tx, &item.item.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    store::agenda::delete(&tx, &current.item).await?;
    store::audit::record(
        &tx,
        audit(
            &access,
            &auth,
            "agenda.item_deleted",
            &item.item.id,
            Some(json!({"title": item.item.title})),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Puts the round's items in the given order (an exact permutation of their ids).
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = OrderBody,
    responses((status = 200, body = AgendaView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[post("/agenda/order")] // /rounds/{round_id}/agenda/order
async fn reorder_items(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<OrderBody>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    access.require(Action::EditAgenda)?;
    require_open(&access)?;
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    let items = store::agenda::list(&tx, &access.round.id).await?;
    let current: HashSet<&str> = items.iter().map(|i| i.item.id.as_str()).collect();
    let given: HashSet<&str> = body.item_ids.iter().map(String::as_str).collect();
    if given.len() != body.item_ids.len() || given != current {
        return Err(ApiError::Unprocessable {
            code: "not_a_permutation",
            detail: "item_ids must list every item of the round exactly once.".into(),
            extra: Some(
                json!({"errors": [{"field": "item_ids", "message": "must be a permutation of the round's item ids"}]}),
            ),
        });
    }
    store::agenda::reorder(&tx, &body.item_ids).await?;
    store::audit::record(
        &tx,
        audit(&access, &auth, "agenda.reordered", &access.round.id, None),
    )
    .await?;
    tx.commit().await?;
    let agenda = agenda_for(&state, &access).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(agenda))
}

/// Moves an item along `planned → in_discussion → concluded|deferred|dropped` (also
/// `planned → deferred|dropped`, `deferred → planned`), with an optional outcome.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    request_body = StatusBody,
    responses((status = 200, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[post("/status")] // /agenda/{item_id}/status
async fn change_item_status(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<StatusBody>,
) -> ApiResult<HttpResponse> {
    let (item, access) = load_item(&state, &auth, &path).await?;
    access.require(Action::SetAgendaStatus)?;
    require_open(&access)?;
    let body = body.into_inner();
    let from: ItemStatus = item.item.status.parse().map_err(|_| ApiError::Internal)?;
    if !from.can_move_to(body.status) {
        return Err(ApiError::Conflict {
            code: "illegal_transition",
            detail: format!(
                "A {} item cannot become {}.",
                from.as_str(),
                body.status.as_str()
            ),
            extra: Some(json!({"allowed": from.next()})),
        });
    }
    let outcome = match body.outcome.as_deref() {
        Some(o) => {
            let o = text::body("outcome", o, 4000).map_err(|e| ApiError::Validation(vec![e]))?;
            let o = attribution::check(&state, &access.round, &o, body.redact).await?;
            Some(state.cipher.seal(o.as_bytes(), item.item.id.as_bytes()))
        }
        None => None,
    };
    let tx = db::begin_write(&state.db).await?;
    let current = store::agenda::find(&tx, &item.item.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if current.item.status != item.item.status {
        return Err(ApiError::conflict(
            "status_changed",
            "The item's status changed meanwhile; read it again.",
        ));
    }
    store::agenda::set_status(&tx, &current.item, body.status, outcome).await?;
    if body.status == ItemStatus::Concluded {
        // The item's held notes go to the round together, as one batch.
        crate::routes::notes::release_if_allowed(
            &tx,
            &state,
            &access.round.id,
            Some(&current.item.id),
        )
        .await?;
    }
    store::audit::record(
        &tx,
        audit(
            &access,
            &auth,
            "agenda.status_changed",
            &item.item.id,
            Some(json!({"from": from.as_str(), "to": body.status.as_str()})),
        ),
    )
    .await?;
    tx.commit().await?;
    let updated = store::agenda::find(&state.db, &item.item.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    item_response(&state, &access, updated, actix_web::http::StatusCode::OK).await
}

/// Creates the item in a later round of the same dialogue, in the same lineage.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    request_body = CarryForwardBody,
    responses((status = 201, body = ItemView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/carry-forward")] // /agenda/{item_id}/carry-forward
async fn carry_item_forward(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CarryForwardBody>,
) -> ApiResult<HttpResponse> {
    let (item, source) = load_item(&state, &auth, &path).await?;
    let target = access::round(&state.reader, &auth, &body.round_id).await?;
    target.require(Action::EditAgenda)?;
    require_open(&target)?;
    if target.round.dialogue_id != source.round.dialogue_id {
        return Err(ApiError::conflict(
            "other_dialogue",
            "Items carry forward only within their dialogue.",
        ));
    }
    if target.round.sequence <= source.round.sequence {
        return Err(ApiError::conflict(
            "not_a_later_round",
            "Items carry forward only into a later round.",
        ));
    }
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &target.round.id).await?;
    let already = store::agenda::lineage(&tx, &item.item.lineage_id)
        .await?
        .iter()
        .any(|(_, r)| r.id == target.round.id);
    if already {
        return Err(ApiError::conflict(
            "already_carried_forward",
            "This item's lineage already has an item in that round.",
        ));
    }
    if store::agenda::count(&tx, &target.round.id).await? >= MAX_ITEMS_PER_ROUND {
        return Err(ApiError::conflict(
            "agenda_full",
            "A round's agenda holds at most 200 items.",
        ));
    }
    let created = store::agenda::create(
        &tx,
        &target.round.id,
        store::agenda::NewItem {
            lineage_id: Some(item.item.lineage_id.clone()),
            title: item.item.title.clone(),
            description: item.item.description.clone(),
            kind: item.item.kind.clone(),
            starts_at: None,
            ends_at: None,
            topics: item.topics.clone(),
            leads: vec![],
        },
    )
    .await?;
    store::audit::record(
        &tx,
        audit(
            &target,
            &auth,
            "agenda.carried_forward",
            &created.item.id,
            Some(json!({"from_item": item.item.id, "from_round": source.round.id})),
        ),
    )
    .await?;
    tx.commit().await?;
    item_response(
        &state,
        &target,
        created,
        actix_web::http::StatusCode::CREATED,
    )
    .await
}

/// The item through every round of its lineage that the caller may see.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    responses((status = 200, body = Vec<LineageEntry>), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/lineage")] // /agenda/{item_id}/lineage
async fn get_lineage(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (item, _) = load_item(&state, &auth, &path).await?;
    let mut entries = Vec::new();
    for (i, round) in store::agenda::lineage(&state.db, &item.item.lineage_id).await? {
        let Ok(access) = access::round(&state.reader, &auth, &round.id).await else {
            continue;
        };
        // Unpublished entries stay hidden from those who see only the published agenda.
        let Some(i) = visible_items(&state, &access, vec![i]).await?.pop() else {
            continue;
        };
        let history = store::agenda::history(&state.db, &i.item.id)
            .await?
            .into_iter()
            .map(|h| HistoryEntry {
                from: h.from_status,
                to: h.to_status,
                at: h.at,
            })
            .collect();
        entries.push(LineageEntry {
            outcome: outcome(&state, &access, &i.item),
            round_id: round.id,
            round_sequence: round.sequence,
            round_title: round.title,
            item_id: i.item.id,
            title: i.item.title,
            status: i.item.status,
            history,
        });
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(entries))
}

/// The rounds of the dialogue the caller may see: all for organizers, their own for members.
async fn visible_rounds(
    state: &AppState,
    auth: &AuthUser,
    access: &access::DialogueAccess,
) -> ApiResult<Vec<crate::entities::round::Model>> {
    visible_rounds_after(state, auth, access, None, 10_000).await
}

/// Up to `limit` rounds the caller sees, by sequence, after the round numbered `after`.
async fn visible_rounds_after(
    state: &AppState,
    auth: &AuthUser,
    access: &access::DialogueAccess,
    after: Option<i32>,
    limit: u64,
) -> ApiResult<Vec<crate::entities::round::Model>> {
    let member = (!access.organizer).then(|| auth.id());
    let filter = store::rounds::ListFilter {
        status: None,
        from: None,
        to: None,
    };
    Ok(store::rounds::list(
        &state.db,
        &access.dialogue.id,
        member,
        &filter,
        after,
        limit,
    )
    .await?)
}

/// The agenda items a member sees in their rounds: everything where they edit the agenda, the
/// published version elsewhere.
async fn member_items(
    state: &AppState,
    auth: &AuthUser,
    rounds: Vec<crate::entities::round::Model>,
) -> ApiResult<Vec<(Item, crate::entities::round::Model)>> {
    let mut out = Vec::new();
    for round in rounds {
        let access = access::round(&state.reader, auth, &round.id).await?;
        let items = store::agenda::list(&state.db, &round.id).await?;
        out.extend(
            visible_items(state, &access, items)
                .await?
                .into_iter()
                .map(|i| (i, round.clone())),
        );
    }
    Ok(out)
}

/// Topics of the dialogue's agendas with how many items and rounds carry each, by name.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<TopicCount>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/topics")] // /dialogues/{dialogue_id}/topics
async fn list_topics(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    let limit = query.limit()?;
    let after = query.cursor()?;
    let rounds = visible_rounds(&state, &auth, &access).await?;
    let counts = if access.organizer {
        // Organizers edit every round's agenda: the live items, counted in the database.
        let ids: Vec<String> = rounds.into_iter().map(|r| r.id).collect();
        store::agenda::topic_counts(&state.db, &ids).await?
    } else {
        let mut counts: std::collections::BTreeMap<String, (u64, HashSet<String>)> =
            Default::default();
        for (item, round) in member_items(&state, &auth, rounds).await? {
            for topic in item.topics {
                let entry = counts.entry(topic).or_default();
                entry.0 += 1;
                entry.1.insert(round.id.clone());
            }
        }
        counts
            .into_iter()
            .map(|(t, (items, rounds))| (t, items, rounds.len() as u64))
            .collect()
    };
    // By topic name, after the cursor (the previous page's last topic).
    let items: Vec<TopicCount> = counts
        .into_iter()
        .filter(|(topic, _, _)| after.is_none_or(|a| topic.as_str() > a))
        .take(limit as usize)
        .map(|(topic, items, rounds)| TopicCount {
            topic,
            items,
            rounds,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |t| t.topic.clone())))
}

/// How a topic went, round by round. A page covers up to `limit` of the rounds the caller sees
/// (by sequence, after the cursor) and lists those that took the topic up, so a page may hold
/// fewer entries than `limit`; `next_cursor` says whether later rounds remain.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path), ("topic" = String, Path), PageQuery),
    responses((status = 200, body = Page<TopicRound>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/topics/{topic}")] // /dialogues/{dialogue_id}/topics/{topic}
async fn topic_history(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (dialogue_id, topic) = path.into_inner();
    let access = access::dialogue(&state.db, &auth, &dialogue_id).await?;
    let topic = agenda::topic_slug(&topic).ok_or(ApiError::NotFound)?;
    let limit = query.limit()?;
    let after = query.number_cursor()?;
    let rounds = visible_rounds_after(&state, &auth, &access, after, limit).await?;
    let next_cursor = (rounds.len() as u64 == limit)
        .then(|| rounds.last().map(|r| r.sequence.to_string()))
        .flatten();
    let round_ids: Vec<String> = rounds.iter().map(|r| r.id.clone()).collect();
    let memberships: HashSet<String> = store::participants::memberships(&state.db, auth.id())
        .await?
        .into_iter()
        .map(|m| m.round_id)
        .collect();
    let mut out: Vec<TopicRound> = Vec::new();
    let found = if access.organizer {
        store::agenda::items_with_topic(&state.db, &round_ids, &topic).await?
    } else {
        let mut found: Vec<(Item, crate::entities::round::Model)> =
            member_items(&state, &auth, rounds)
                .await?
                .into_iter()
                .filter(|(i, _)| i.topics.contains(&topic))
                .collect();
        found.sort_by_key(|(i, r)| (r.sequence, i.item.position));
        found
    };
    for (item, round) in found {
        // Outcomes belong to the record: members of that round only.
        let outcome = if memberships.contains(&round.id) {
            item.item
                .outcome_sealed
                .as_ref()
                .zip(item.item.outcome_key_id.as_ref())
                .and_then(|(s, k)| state.cipher.open(k, s, item.item.id.as_bytes()).ok())
                .and_then(|b| String::from_utf8(b).ok())
        } else {
            None
        };
        let entry = TopicItem {
            item_id: item.item.id,
            lineage_id: item.item.lineage_id,
            title: item.item.title,
            status: item.item.status,
            outcome,
        };
        match out.last_mut() {
            Some(last) if last.round_id == round.id => last.items.push(entry),
            _ => out.push(TopicRound {
                round_id: round.id,
                round_sequence: round.sequence,
                round_title: round.title,
                items: vec![entry],
            }),
        }
    }
    // A topic no visible round took up does not exist for the caller.
    if out.is_empty() && after.is_none() && next_cursor.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Page {
            items: out,
            next_cursor,
        }))
}

/// Freezes the current agenda as the next numbered version; participants see it from now on.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 201, body = VersionView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/agenda/publish")] // /rounds/{round_id}/agenda/publish
async fn publish_agenda(
    caller: RoundCaller,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    access.require(Action::EditAgenda)?;
    require_open(&access)?;
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    let items: Vec<VersionItem> = store::agenda::list(&tx, &access.round.id)
        .await?
        .into_iter()
        .map(version_item)
        .collect();
    if items.is_empty() {
        return Err(ApiError::conflict(
            "agenda_empty",
            "An empty agenda cannot be published.",
        ));
    }
    let previous = store::agenda::latest_version(&tx, &access.round.id)
        .await?
        .map(|v| store::agenda::snapshot_items(&v))
        .unwrap_or_default();
    let version = store::agenda::publish(&tx, &access.round.id, &items).await?;
    store::audit::record(
        &tx,
        audit(
            &access,
            &auth,
            "agenda.published",
            &access.round.id,
            Some(json!({"version": version.number})),
        ),
    )
    .await?;
    store::webhooks::emit(
        &tx,
        &access.round.dialogue_id,
        Event::AgendaPublished,
        json!({"round_id": access.round.id, "version": version.number}),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(VersionView {
        number: version.number,
        published_at: version.published_at,
        changes: agenda::diff(&previous, &items),
        items,
    }))
}

fn version_item(i: Item) -> VersionItem {
    VersionItem {
        id: i.item.id,
        lineage_id: i.item.lineage_id,
        position: i.item.position,
        title: i.item.title,
        description: i.item.description,
        kind: i.item.kind.parse().unwrap_or(ItemKind::Session),
        topics: i.topics,
        starts_at: i.item.starts_at,
        ends_at: i.item.ends_at,
    }
}

/// The round's published versions, oldest first.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<VersionSummary>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/agenda/versions")] // /rounds/{round_id}/agenda/versions
async fn list_versions(
    caller: RoundCaller,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRound)?;
    let limit = query.limit()?;
    let after = query.number_cursor()?;
    let versions = store::agenda::versions(&state.db, &access.round.id, after, limit).await?;
    let items: Vec<VersionSummary> = versions
        .iter()
        .map(|v| VersionSummary {
            number: v.number,
            published_at: v.published_at,
            items: store::agenda::snapshot_items(v).len(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |v| v.number.to_string())))
}

/// One published version and what changed from the previous one.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path), ("number" = i32, Path)),
    responses((status = 200, body = VersionView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/agenda/versions/{number}")] // /rounds/{round_id}/agenda/versions/{number}
async fn get_version(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (round_id, number) = path.into_inner();
    let access = access::round(&state.reader, &auth, &round_id).await?;
    access.require(Action::ReadRound)?;
    let number: i32 = number.parse().map_err(|_| ApiError::NotFound)?;
    let version = store::agenda::version(&state.db, &access.round.id, number)
        .await?
        .ok_or(ApiError::NotFound)?;
    let previous = match number {
        1 => vec![],
        n => store::agenda::version(&state.db, &access.round.id, n - 1)
            .await?
            .map(|v| store::agenda::snapshot_items(&v))
            .unwrap_or_default(),
    };
    let items = store::agenda::snapshot_items(&version);
    Ok(HttpResponse::Ok().json(VersionView {
        number,
        published_at: version.published_at,
        changes: agenda::diff(&previous, &items),
        items,
    }))
}

/// The round (all-day) and its timed agenda items as iCalendar, in the venue's zone. UIDs are
/// stable and SEQUENCE grows with each change, so calendar clients update their copy.
#[utoipa::path(
    tag = "agenda",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 200, description = "text/calendar", content_type = "text/calendar"), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/calendar.ics")] // /rounds/{round_id}/calendar.ics
async fn round_ics(caller: RoundCaller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRound)?;
    let (round, items) = calendar_entries(&state, &access).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(crate::calendar::round_calendar(&round, &items)))
}

/// A round and its timed items as the calendar writer takes them; items as `access` sees them.
pub async fn calendar_entries(
    state: &AppState,
    access: &RoundAccess,
) -> ApiResult<(
    crate::calendar::CalendarRound,
    Vec<crate::calendar::CalendarItem>,
)> {
    let r = &access.round;
    let location = [
        r.venue_name.as_deref(),
        r.venue_city.as_deref(),
        r.venue_country.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    let round = crate::calendar::CalendarRound {
        id: r.id.clone(),
        title: r.title.clone(),
        timezone: r.timezone.clone(),
        starts_on: r.starts_on,
        ends_on: r.ends_on,
        location: (!location.is_empty()).then_some(location),
        // Seconds since creation: grows with every change of the round.
        sequence: (r.updated_at - r.created_at)
            .num_seconds()
            .clamp(0, i32::MAX as i64) as i32,
        cancelled: access.status() == crate::domain::round::RoundStatus::Cancelled,
        last_modified: r.updated_at,
    };
    let agenda = agenda_for(state, access).await?;
    let items = agenda
        .items
        .into_iter()
        .filter_map(|i| {
            Some(crate::calendar::CalendarItem {
                starts_at: i.starts_at?.with_timezone(&Utc),
                ends_at: i.ends_at?.with_timezone(&Utc),
                cancelled: i.status == ItemStatus::Dropped.as_str(),
                id: i.id,
                title: i.title,
                description: i.description,
                sequence: i.revision,
                last_modified: r.updated_at,
            })
        })
        .collect();
    Ok((round, items))
}
