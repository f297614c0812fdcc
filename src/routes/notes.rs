//! Notes under the Chatham House Rule (DESIGN.md §4), summaries, the joint statement and the
//! round's record.
//!
//! - A private note answers its author alone; everyone else, organizers and admins included,
//!   gets the 404 of a note that does not exist.
//! - A chatham note has no author. Its `edit_key` is returned once; the `Edit-Key` header lets
//!   its holder read it before release, edit it until release and delete it at any time.
//! - Chatham notes are held until their agenda item or the round is concluded, or until an
//!   organizer releases them, and never released while the round has fewer than
//!   `notes.min_release_group` participants who could have written them (observers and
//!   participants marked absent do not count). Before release only the key holder sees a note.
//! - Shared text (chatham notes, summaries, statements) passes the attribution guard first.
//! - Responses carry the date only, and `Cache-Control: no-store`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::NaiveDate;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::no_store;
use crate::access::{self, RoundAccess, RoundCaller};
use crate::attribution;
use crate::auth::AuthUser;
use crate::auth::tokens::{hash_opaque, new_opaque_token};
use crate::domain::dialogue::Rule;
use crate::domain::rights::Action;
use crate::domain::text;
use crate::domain::webhooks::Event;
use crate::entities::{chatham_note, private_note};
use crate::error::{ApiError, ApiResult, Problem};
use crate::record;
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::{db, store};

/// Routes under a round, `/rounds/{round_id}`: paths here are relative to it.
pub fn round(cfg: &mut ServiceConfig) {
    cfg.service(create_note)
        .service(list_released)
        .service(release_notes)
        .service(put_statement)
        .service(get_statement)
        .service(approve_statement)
        .service(get_record);
}

/// Routes under the caller, `/me`: paths here are relative to it.
pub fn me(cfg: &mut ServiceConfig) {
    cfg.service(my_notes);
}

/// Routes under a note, `/notes/{note_id}`: paths here are relative to it.
pub fn note(cfg: &mut ServiceConfig) {
    cfg.service(get_note)
        .service(patch_note)
        .service(delete_note);
}

/// Routes under an agenda item, `/agenda/{item_id}`: paths here are relative to it.
pub fn item(cfg: &mut ServiceConfig) {
    cfg.service(put_summary).service(get_summary);
}

pub const EDIT_KEY: &str = "edit-key";

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Read by its author alone.
    Private,
    /// Shared with the round once released, never attributed.
    Chatham,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"visibility": "chatham", "body": "One side suggested a joint hydrological data centre.", "agenda_item_id": null, "redact": false}))]
pub struct CreateNote {
    pub visibility: Visibility,
    pub body: String,
    pub agenda_item_id: Option<String>,
    /// Chatham notes: replace risky mentions instead of refusing the note.
    #[serde(default)]
    pub redact: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "A participant suggested a joint hydrological data centre.", "redact": false}))]
pub struct EditBody {
    pub body: String,
    #[serde(default)]
    pub redact: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": 2}))]
pub struct ApproveBody {
    /// The statement version being approved: must be the current one.
    pub version: i32,
}

/// A note as its reader sees it. A chatham note has no author field at all.
#[derive(Serialize, ToSchema)]
pub struct NoteView {
    pub id: String,
    /// `private` or `chatham`.
    pub visibility: &'static str,
    pub round_id: String,
    pub agenda_item_id: Option<String>,
    pub body: String,
    /// The day it was written (nothing finer).
    pub created_on: NaiveDate,
    /// Chatham notes: whether the round can read it yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
}

/// A chatham note as created: the only time its edit key is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedNote {
    #[serde(flatten)]
    pub note: NoteView,
    /// Chatham notes only: the secret that lets its holder read (before release), edit (before
    /// release) and delete the note. Shown once; keep it to keep control of the note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit_key: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Released {
    pub released: u64,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    pub agenda_item_id: String,
    pub body: String,
    pub updated_on: NaiveDate,
}

#[derive(Serialize, ToSchema)]
pub struct StatementView {
    pub round_id: String,
    pub version: i32,
    pub body: String,
    pub adopted: bool,
    /// Sides whose co-chair approved this version (never who).
    pub approved_sides: Vec<String>,
    /// Sides whose approval adoption needs.
    pub required_sides: Vec<String>,
    pub updated_on: NaiveDate,
}

fn open(state: &AppState, key_id: &str, sealed: &str, aad: &str) -> ApiResult<String> {
    let clear = state
        .cipher
        .open(key_id, sealed, aad.as_bytes())
        .map_err(|e| ApiError::internal("open sealed text", e))?;
    String::from_utf8(clear).map_err(|e| ApiError::internal("sealed text", e))
}

fn private_view(state: &AppState, n: private_note::Model) -> ApiResult<NoteView> {
    let body = open(state, &n.key_id, &n.body_sealed, &n.id)?;
    Ok(private_view_with(n, body))
}

/// The view of a private note whose body is already in hand (just written).
fn private_view_with(n: private_note::Model, body: String) -> NoteView {
    NoteView {
        body,
        id: n.id,
        visibility: "private",
        round_id: n.round_id,
        agenda_item_id: n.agenda_item_id,
        created_on: n.created_on,
        released: None,
    }
}

pub fn chatham_view(state: &AppState, n: chatham_note::Model) -> ApiResult<NoteView> {
    let body = open(state, &n.key_id, &n.body_sealed, &n.id)?;
    Ok(chatham_view_with(n, body))
}

/// The view of a chatham note whose body is already in hand (just written).
fn chatham_view_with(n: chatham_note::Model, body: String) -> NoteView {
    NoteView {
        body,
        id: n.id,
        visibility: "chatham",
        round_id: n.round_id,
        agenda_item_id: n.agenda_item_id,
        created_on: n.created_on,
        released: Some(n.released),
    }
}

/// A released note as the round reads it: checked against the roster of today, so a note that
/// names someone who joined after its release shows "[a participant]" in their place.
fn released_view(
    state: &AppState,
    ctx: &crate::domain::guard::Guard,
    n: chatham_note::Model,
) -> ApiResult<NoteView> {
    let mut view = chatham_view(state, n)?;
    let spans = attribution::spans(ctx, &view.body);
    if !spans.is_empty() {
        view.body = crate::domain::guard::redact(&view.body, &spans);
    }
    Ok(view)
}

fn body_text(state: &AppState, field: &str, body: &str) -> ApiResult<String> {
    text::body(field, body, state.settings.notes.body_max_chars)
        .map_err(|e| ApiError::Validation(vec![e]))
}

fn require_notes_open(access: &RoundAccess) -> ApiResult<()> {
    if !access.status().accepts_notes() {
        return Err(ApiError::conflict(
            "round_not_in_session",
            "Notes are written while a round is in session or concluded.",
        ));
    }
    Ok(())
}

/// Whether the request's `Edit-Key` header opens this note.
fn holds_key(req: &HttpRequest, note: &chatham_note::Model) -> bool {
    req.headers()
        .get(EDIT_KEY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|k| k.len() <= 100 && hash_opaque(k.trim()) == note.edit_key_hash)
}

/// Releases held notes if the round is large enough; called when an item or the round
/// concludes. Returns how many were released.
pub async fn release_if_allowed(
    db: &impl sea_orm::ConnectionTrait,
    state: &AppState,
    round_id: &str,
    item: Option<&str>,
) -> ApiResult<u64> {
    if store::participants::possible_authors(db, round_id).await?
        < state.settings.notes.min_release_group
    {
        return Ok(0);
    }
    Ok(store::notes::release(db, round_id, item).await?)
}

/// Writes a note in the round: private, or shared without attribution.
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = CreateNote,
    responses(
        (status = 201, body = CreatedNote), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)
    )
)]
#[post("/notes")] // /rounds/{round_id}/notes
async fn create_note(
    req: HttpRequest,
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<CreateNote>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    if let Some(ip) = crate::ratelimit::client_ip(&req, &state.settings.http.trusted_proxies) {
        state.limits.note_ip.check(&ip.to_string())?;
    }
    state.limits.note_account.check(auth.id())?;
    let body = body.into_inner();
    access.require(match body.visibility {
        Visibility::Private => Action::PrivateNotes,
        Visibility::Chatham => Action::PostChatham,
    })?;
    require_notes_open(&access)?;
    let mut text = body_text(&state, "body", &body.body)?;
    if let Some(item_id) = &body.agenda_item_id {
        let item = store::agenda::find(&state.reader, item_id).await?;
        if item.is_none_or(|i| i.item.round_id != access.round.id) {
            return Err(ApiError::invalid(
                "agenda_item_id",
                "is not an item of this round",
            ));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    match body.visibility {
        Visibility::Private => {
            let sealed = state.cipher.seal(text.as_bytes(), id.as_bytes());
            let note = store::notes::create_private(
                &state.writer,
                id,
                &access.round.id,
                auth.id(),
                body.agenda_item_id,
                sealed,
            )
            .await?;
            Ok(no_store(HttpResponse::Created()).json(CreatedNote {
                note: private_view_with(note, text),
                edit_key: None,
            }))
        }
        Visibility::Chatham => {
            if access.round.rule == Rule::PrivateNotesOnly.as_str() {
                return Err(ApiError::conflict(
                    "shared_notes_disabled",
                    "This round keeps private notes only.",
                ));
            }
            text = attribution::check(&state, &access.round, &text, body.redact).await?;
            let (key, key_hash) = new_opaque_token();
            let sealed = state.cipher.seal(text.as_bytes(), id.as_bytes());
            let note = store::notes::create_chatham(
                &state.writer,
                id,
                &access.round.id,
                body.agenda_item_id,
                sealed,
                key_hash,
            )
            .await?;
            Ok(no_store(HttpResponse::Created()).json(CreatedNote {
                note: chatham_view_with(note, text),
                edit_key: Some(key.expose_secret().to_owned()),
            }))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotesQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
    pub agenda_item_id: Option<String>,
    /// `GET /me/notes` only.
    pub round_id: Option<String>,
}

impl NotesQuery {
    fn page(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// The round's released chatham notes, ordered by id (never by time or author).
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(("round_id" = String, Path), NotesQuery),
    responses((status = 200, body = Page<NoteView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[get("/notes")] // /rounds/{round_id}/notes
async fn list_released(
    caller: RoundCaller,
    state: web::Data<AppState>,
    query: web::Query<NotesQuery>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRecord)?;
    if query.round_id.is_some() {
        return Err(ApiError::invalid("round_id", "is given in the path"));
    }
    let page = query.page();
    let limit = page.limit()?;
    let ctx = attribution::guard(&state, &access.round).await?;
    let notes = store::notes::list_released(
        &state.reader,
        &access.round.id,
        query.agenda_item_id.as_deref(),
        page.cursor()?,
        limit,
    )
    .await?;
    let items = notes
        .into_iter()
        .map(|n| released_view(&state, &ctx, n))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(no_store(HttpResponse::Ok()).json(Page::new(items, limit, |n| n.id.clone())))
}

/// The caller's own private notes.
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(NotesQuery),
    responses((status = 200, body = Page<NoteView>), (status = 400, body = Problem), (status = 401, body = Problem))
)]
#[get("/notes")] // /me/notes
async fn my_notes(
    auth: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<NotesQuery>,
) -> ApiResult<HttpResponse> {
    let page = query.page();
    let limit = page.limit()?;
    let notes = store::notes::list_private(
        &state.db,
        auth.id(),
        query.round_id.as_deref(),
        query.agenda_item_id.as_deref(),
        page.cursor()?,
        limit,
    )
    .await?;
    let items = notes
        .into_iter()
        .map(|n| private_view(&state, n))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(no_store(HttpResponse::Ok()).json(Page::new(items, limit, |n| n.id.clone())))
}

/// Releases the round's held chatham notes (organizers and the convenor). Refused while the
/// round has fewer possible writers (observers and absentees not counted) than the release group.
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 200, body = Released), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/notes/release")] // /rounds/{round_id}/notes/release
async fn release_notes(caller: RoundCaller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ManageRound)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let min = state.settings.notes.min_release_group;
    let tx = db::begin_write(&state.db).await?;
    if store::participants::possible_authors(&tx, &access.round.id).await? < min {
        return Err(ApiError::Conflict {
            code: "release_group_too_small",
            detail: format!(
                "Shared notes are released only in rounds of at least {min} participants who \
                 may write them; observers and participants marked absent do not count."
            ),
            extra: Some(json!({"min_release_group": min})),
        });
    }
    let released = store::notes::release(&tx, &access.round.id, None).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Released { released }))
}

/// What a note id is to this caller: their own private note, a chatham note they may read, or
/// nothing (404 whatever the reason).
enum Found {
    Private(private_note::Model),
    /// A chatham note, its round, and whether the caller presented its edit key.
    Chatham(
        chatham_note::Model,
        Box<crate::entities::round::Model>,
        bool,
    ),
}

async fn find_note(
    state: &AppState,
    auth: &AuthUser,
    req: &HttpRequest,
    id: &str,
) -> ApiResult<Found> {
    if let Some(n) = store::notes::find_private(&state.db, id).await? {
        return if n.author_id == auth.id() {
            Ok(Found::Private(n))
        } else {
            Err(ApiError::NotFound)
        };
    }
    let note = store::notes::find_chatham(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The edit key alone proves authorship: its holder keeps control of the note even after
    // leaving the round. Without it, only the round's members read it, once released.
    let has_key = holds_key(req, &note);
    if !has_key {
        if !note.released {
            return Err(ApiError::NotFound);
        }
        let access = access::round(&state.reader, auth, &note.round_id).await?;
        if !access.can(Action::ReadRecord) {
            return Err(ApiError::NotFound);
        }
    }
    let round = store::rounds::find(&state.db, &note.round_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Found::Chatham(note, Box::new(round), has_key))
}

/// A note: private to its author; chatham to its key holder before release, to the round after.
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(("note_id" = String, Path), ("Edit-Key" = Option<String>, Header, description = "A chatham note's edit key")),
    responses((status = 200, body = NoteView), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("")] // /notes/{note_id}
async fn get_note(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let view = match find_note(&state, &auth, &req, &path).await? {
        Found::Private(n) => private_view(&state, n)?,
        // Its holder sees the note as written; the round sees it through today's roster.
        Found::Chatham(n, _, true) => chatham_view(&state, n)?,
        Found::Chatham(n, round, false) => {
            let ctx = attribution::guard(&state, &round).await?;
            released_view(&state, &ctx, n)?
        }
    };
    Ok(no_store(HttpResponse::Ok()).json(view))
}

/// Edits a note: a private note by its author; a chatham note with its `Edit-Key`, until released.
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(("note_id" = String, Path), ("Edit-Key" = Option<String>, Header, description = "A chatham note's edit key")),
    request_body = EditBody,
    responses((status = 200, body = NoteView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[patch("")] // /notes/{note_id}
async fn patch_note(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EditBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut text = body_text(&state, "body", &body.body)?;
    let view = match find_note(&state, &auth, &req, &path).await? {
        Found::Private(n) => {
            let access = access::round(&state.reader, &auth, &n.round_id).await?;
            require_notes_open(&access)?;
            store::notes::set_private_body(
                &state.db,
                &n.id,
                state.cipher.seal(text.as_bytes(), n.id.as_bytes()),
            )
            .await?;
            private_view(
                &state,
                store::notes::find_private(&state.db, &n.id)
                    .await?
                    .ok_or(ApiError::NotFound)?,
            )?
        }
        Found::Chatham(n, round, has_key) => {
            if !has_key {
                return Err(ApiError::NotFound);
            }
            if n.released {
                return Err(ApiError::conflict(
                    "note_released",
                    "A released note can no longer be edited; it can be deleted.",
                ));
            }
            let status: crate::domain::round::RoundStatus =
                round.status.parse().map_err(|_| ApiError::Internal)?;
            if !status.accepts_notes() {
                return Err(ApiError::conflict(
                    "round_not_in_session",
                    "Notes are written while a round is in session or concluded.",
                ));
            }
            text = attribution::check(&state, &round, &text, body.redact).await?;
            let tx = db::begin_write(&state.db).await?;
            if !store::notes::set_chatham_body(
                &tx,
                &n.id,
                state.cipher.seal(text.as_bytes(), n.id.as_bytes()),
            )
            .await?
            {
                return Err(ApiError::conflict(
                    "note_released",
                    "A released note can no longer be edited; it can be deleted.",
                ));
            }
            tx.commit().await?;
            chatham_view(
                &state,
                store::notes::find_chatham(&state.db, &n.id)
                    .await?
                    .ok_or(ApiError::NotFound)?,
            )?
        }
    };
    Ok(no_store(HttpResponse::Ok()).json(view))
}

/// Deletes a note for good: a private note by its author; a chatham note with its `Edit-Key`,
/// at any time (also after release, and in an archived round: safety comes first).
#[utoipa::path(
    tag = "notes",
    security(("bearer" = [])),
    params(("note_id" = String, Path), ("Edit-Key" = Option<String>, Header, description = "A chatham note's edit key")),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[delete("")] // /notes/{note_id}
async fn delete_note(
    req: HttpRequest,
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    match find_note(&state, &auth, &req, &path).await? {
        Found::Private(n) => store::notes::delete_private(&state.db, &n.id).await?,
        Found::Chatham(n, _, true) => {
            let tx = db::begin_write(&state.db).await?;
            store::notes::delete_chatham(&tx, &n.id).await?;
            tx.commit().await?;
        }
        Found::Chatham(..) => return Err(ApiError::NotFound),
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Writes the rapporteur's non-attributed summary of an agenda item.
#[utoipa::path(
    tag = "record",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    request_body = EditBody,
    responses((status = 200, body = SummaryView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[put("/summary")] // /agenda/{item_id}/summary
async fn put_summary(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EditBody>,
) -> ApiResult<HttpResponse> {
    let (item, access) = crate::routes::agenda::load_item(&state, &auth, &path).await?;
    access.require(Action::WriteSummary)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let text = body_text(&state, "body", &body.body)?;
    let text = attribution::check(&state, &access.round, &text, body.redact).await?;
    let sealed = state.cipher.seal(text.as_bytes(), item.item.id.as_bytes());
    let tx = db::begin_write(&state.db).await?;
    let s = store::notes::put_summary(&tx, &item.item.id, sealed).await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Ok()).json(SummaryView {
        agenda_item_id: s.agenda_item_id,
        body: text,
        updated_on: s.updated_on,
    }))
}

#[utoipa::path(
    tag = "record",
    security(("bearer" = [])),
    params(("item_id" = String, Path)),
    responses((status = 200, body = SummaryView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[get("/summary")] // /agenda/{item_id}/summary
async fn get_summary(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (item, access) = crate::routes::agenda::load_item(&state, &auth, &path).await?;
    access.require(Action::ReadRecord)?;
    let s = store::notes::find_summary(&state.db, &item.item.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let body = open(&state, &s.key_id, &s.body_sealed, &s.agenda_item_id)?;
    Ok(no_store(HttpResponse::Ok()).json(SummaryView {
        agenda_item_id: s.agenda_item_id,
        body,
        updated_on: s.updated_on,
    }))
}

async fn statement_view(
    state: &AppState,
    access: &RoundAccess,
) -> ApiResult<Option<StatementView>> {
    let Some(s) = store::notes::find_statement(&state.db, &access.round.id).await? else {
        return Ok(None);
    };
    let required = record::required_sides(&state.db, &access.dialogue.id).await?;
    Ok(Some(StatementView {
        body: open(state, &s.key_id, &s.body_sealed, &s.round_id)?,
        approved_sides: store::notes::approved_sides(&state.db, &s.round_id, s.version).await?,
        required_sides: required,
        round_id: s.round_id,
        version: s.version,
        adopted: s.adopted,
        updated_on: s.updated_on,
    }))
}

/// Drafts a new version of the joint statement; approvals of earlier versions lapse.
#[utoipa::path(
    tag = "record",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = EditBody,
    responses((status = 200, body = StatementView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem))
)]
#[put("/statement")] // /rounds/{round_id}/statement
async fn put_statement(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<EditBody>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::DraftStatement)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let text = body_text(&state, "body", &body.body)?;
    let text = attribution::check(&state, &access.round, &text, body.redact).await?;
    let sealed = state
        .cipher
        .seal(text.as_bytes(), access.round.id.as_bytes());
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    if store::notes::find_statement(&tx, &access.round.id)
        .await?
        .is_some_and(|s| s.adopted)
    {
        return Err(ApiError::conflict(
            "statement_adopted",
            "The statement was adopted; it no longer changes.",
        ));
    }
    store::notes::put_statement(&tx, &access.round.id, sealed).await?;
    tx.commit().await?;
    let view = statement_view(&state, &access)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(no_store(HttpResponse::Ok()).json(view))
}

#[utoipa::path(
    tag = "record",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    responses((status = 200, body = StatementView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[get("/statement")] // /rounds/{round_id}/statement
async fn get_statement(caller: RoundCaller, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRecord)?;
    let view = statement_view(&state, &access)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(no_store(HttpResponse::Ok()).json(view))
}

/// A co-chair approves the current version for their side; the statement is adopted once a
/// co-chair of every delegation has approved it. The statement records sides, never people.
#[utoipa::path(
    tag = "record",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = ApproveBody,
    responses((status = 200, body = StatementView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/statement/approve")] // /rounds/{round_id}/statement/approve
async fn approve_statement(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<ApproveBody>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ApproveStatement)?;
    if access.status().is_read_only() {
        return Err(ApiError::conflict(
            "round_read_only",
            "An archived or cancelled round cannot change.",
        ));
    }
    let side = access
        .membership
        .as_ref()
        .map(|m| m.side_key.clone())
        .ok_or(ApiError::Forbidden("Only a co-chair approves."))?;
    let required = record::required_sides(&state.db, &access.dialogue.id).await?;
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    let current = store::notes::find_statement(&tx, &access.round.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if body.version != current.version {
        return Err(ApiError::Conflict {
            code: "stale_version",
            detail: "That is not the current version of the statement.".into(),
            extra: Some(json!({"current_version": current.version})),
        });
    }
    if !required.contains(&side) {
        return Err(ApiError::Forbidden(
            "Approvals come from the delegations' co-chairs.",
        ));
    }
    store::notes::approve(&tx, &access.round.id, current.version, &side).await?;
    let approved = store::notes::approved_sides(&tx, &access.round.id, current.version).await?;
    if !current.adopted && required.iter().all(|s| approved.contains(s)) {
        store::notes::set_adopted(&tx, &access.round.id).await?;
        store::audit::record(
            &tx,
            store::audit::Entry {
                dialogue_id: &access.dialogue.id,
                round_id: Some(&access.round.id),
                actor_id: None,
                action: "statement.adopted",
                target_type: "round",
                target_id: Some(&access.round.id),
                detail: Some(json!({"version": current.version})),
            },
        )
        .await?;
        // Which sides approved, and who, stays out of the event: the version is enough.
        store::webhooks::emit(
            &tx,
            &access.dialogue.id,
            Event::StatementAdopted,
            json!({"round_id": access.round.id, "version": current.version}),
        )
        .await?;
    }
    tx.commit().await?;
    let view = statement_view(&state, &access)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(no_store(HttpResponse::Ok()).json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// `json` (default) or `markdown`.
    #[param(pattern = "^(json|markdown)$")]
    pub format: Option<String>,
}

/// The round's non-attributed record: agenda with statuses and outcomes, released notes by item,
/// summaries and the statement. No roster, no attendee count, nothing finer than the date. The
/// attribution guard reads it once more; a hit refuses the export (409) rather than leak.
#[utoipa::path(
    tag = "record",
    security(("bearer" = [])),
    params(("round_id" = String, Path), RecordQuery),
    responses((status = 200, body = record::Record), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[get("/record")] // /rounds/{round_id}/record
async fn get_record(
    caller: RoundCaller,
    state: web::Data<AppState>,
    query: web::Query<RecordQuery>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require(Action::ReadRecord)?;
    let markdown = match query.format.as_deref() {
        None | Some("json") => false,
        Some("markdown") => true,
        Some(_) => return Err(ApiError::invalid("format", "must be json or markdown")),
    };
    let record = record::build(&state.db, &state.cipher, &access.round.id).await?;
    Ok(if markdown {
        no_store(HttpResponse::Ok())
            .insert_header((header::CONTENT_TYPE, "text/markdown; charset=utf-8"))
            .body(record.to_markdown())
    } else {
        no_store(HttpResponse::Ok()).json(record)
    })
}
