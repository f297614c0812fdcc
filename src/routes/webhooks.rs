//! A dialogue's webhooks (organizers only): events pushed to the convening institution's own
//! systems. Members of the dialogue's rounds, admins and everyone else get the 404 of a webhook
//! that does not exist. API tokens cannot reach these routes (`domain::scopes`).
//!
//! The signing secret is shown once, in the 201 body under `secret`, and kept sealed with the
//! data key (it must be read back to sign). Payloads carry ids and non-confidential fields only:
//! never note content, never who approved, wrote or accepted anything.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access;
use crate::auth::AuthUser;
use crate::domain::text;
use crate::domain::webhooks::{Destination, Event, Events};
use crate::entities::{webhook, webhook_delivery};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store::audit::Entry;
use crate::{db, store};

/// Routes under a dialogue, `/dialogues/{dialogue_id}`: paths here are relative to it.
pub fn dialogue(cfg: &mut ServiceConfig) {
    cfg.service(create_webhook).service(list_webhooks);
}

/// Routes at the top of `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(delete_webhook)
        .service(list_deliveries)
        .service(test_webhook);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://crm.example.org/hooks/backchannel",
    "events": ["round.created", "round.status_changed", "invitation.accepted"],
    "description": "Travel desk"
}))]
pub struct CreateWebhook {
    /// `https://` (plain `http://` only where the service allows it); no credentials; never an
    /// address inside the service's network unless the service allows it.
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
    /// Any of `round.created`, `round.updated`, `round.status_changed`, `invitation.accepted`,
    /// `invitation.declined`, `agenda.published`, `statement.adopted`, each once
    /// (`webhook.test` is sent by the test route only and cannot be subscribed to).
    #[schema(value_type = Vec<Event>, min_items = 1, max_items = 7)]
    pub events: Vec<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub dialogue_id: String,
    pub url: String,
    #[schema(value_type = Vec<Event>)]
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A webhook as created: the only time its secret is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret: the HMAC-SHA256 key of `Backchannel-Signature`, used as the string
    /// given. Shown once.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// The event's id, as sent in `Backchannel-Event-Id` and the body's `id`.
    pub event_id: String,
    #[schema(value_type = Event)]
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(pattern = "^(pending|delivered|failed)$")]
    pub state: String,
    pub attempts: i32,
    /// The receiver's last HTTP status, when it answered with other than 2xx.
    pub last_status: Option<i32>,
    /// A short error kind of the last failed attempt (`http_status`, `timeout`, `connect`, …).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct QueuedTest {
    pub event_id: String,
    pub delivery_id: String,
}

fn view(w: webhook::Model) -> WebhookView {
    WebhookView {
        events: Events::from_stored(&w.events)
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        id: w.id,
        dialogue_id: w.dialogue_id,
        url: w.url,
        description: w.description,
        created_at: w.created_at,
    }
}

fn delivery_view(d: webhook_delivery::Model) -> DeliveryView {
    let pending = d.state == store::webhooks::PENDING;
    DeliveryView {
        id: d.id,
        event_id: d.event_id,
        event: d.event,
        state: d.state,
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: d.created_at,
        next_attempt_at: pending.then_some(d.next_attempt_at),
        delivered_at: d.delivered_at,
    }
}

/// The webhook, if the caller organizes its dialogue; the 404 of a missing webhook otherwise.
async fn organized_webhook(
    state: &AppState,
    auth: &AuthUser,
    webhook_id: &str,
) -> ApiResult<webhook::Model> {
    let hook = store::webhooks::find(&state.db, webhook_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = access::dialogue(&state.db, auth, &hook.dialogue_id).await?;
    access.require_organizer_or_hide()?;
    Ok(hook)
}

/// Registers a webhook for the dialogue's events; the answer shows its signing secret once.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path)),
    request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/webhooks")] // /dialogues/{dialogue_id}/webhooks
async fn create_webhook(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateWebhook>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    access.require_organizer_or_hide()?;
    let body = body.into_inner();
    let mut errors: Vec<FieldError> = Vec::new();
    let destination = Destination::parse(&body.url, state.settings.webhooks.destination_policy())
        .map_err(|e| errors.push(e))
        .ok();
    let events = Events::parse(&body.events).map_err(|e| errors.push(e)).ok();
    let description = match body.description.as_deref() {
        Some(d) => text::line("description", d, 200)
            .map_err(|e| errors.push(e))
            .ok(),
        None => None,
    };
    let (Some(destination), Some(events), true) = (destination, events, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };

    let id = store::new_id();
    let secret = format!("whsec_{}", crate::storage::random_b64(32).expose_secret());
    let (key_id, secret_sealed) = state.cipher.seal(secret.as_bytes(), id.as_bytes());
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "dialogues", &access.dialogue.id).await?;
    if store::webhooks::count(&tx, &access.dialogue.id).await? >= store::webhooks::MAX_PER_DIALOGUE
    {
        return Err(ApiError::conflict(
            "too_many_webhooks",
            "A dialogue has at most 20 webhooks; delete one first.",
        ));
    }
    let hook = store::webhooks::create(
        &tx,
        store::webhooks::NewWebhook {
            id,
            dialogue_id: access.dialogue.id.clone(),
            url: destination.as_str().to_owned(),
            events,
            description,
            secret_sealed,
            key_id,
        },
    )
    .await?;
    // The URL stays out of the audit trail: it may embed a receiver's own secret.
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &hook.dialogue_id,
            round_id: None,
            actor_id: Some(auth.id()),
            action: "webhook.created",
            target_type: "webhook",
            target_id: Some(&hook.id),
            detail: Some(json!({"events": Events::from_stored(&hook.events).names()})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(CreatedWebhook {
            webhook: view(hook),
            secret,
        }))
}

/// The dialogue's webhooks (organizers), without their secrets.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("dialogue_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<WebhookView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/webhooks")] // /dialogues/{dialogue_id}/webhooks
async fn list_webhooks(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let access = access::dialogue(&state.db, &auth, &path).await?;
    access.require_organizer_or_hide()?;
    let limit = query.limit()?;
    let hooks =
        store::webhooks::list(&state.db, &access.dialogue.id, query.cursor()?, limit).await?;
    let items: Vec<WebhookView> = hooks.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |w| w.id.clone())))
}

/// Removes a webhook and its delivery log; nothing more is sent to it.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[delete("/webhooks/{webhook_id}")]
async fn delete_webhook(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let hook = organized_webhook(&state, &auth, &path).await?;
    let tx = db::begin_write(&state.db).await?;
    if !store::webhooks::delete(&tx, &hook.id).await? {
        return Err(ApiError::NotFound);
    }
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &hook.dialogue_id,
            round_id: None,
            actor_id: Some(auth.id()),
            action: "webhook.deleted",
            target_type: "webhook",
            target_id: Some(&hook.id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Cursor of the deliveries list: the creation time in microseconds and the id.
fn delivery_cursor(d: &DeliveryView) -> String {
    format!("{}_{}", d.created_at.timestamp_micros(), d.id)
}

fn parse_delivery_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, &str)> {
    let bad = || ApiError::invalid("cursor", "is not a cursor from this list");
    let (micros, id) = cursor.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad)?;
    Ok((at, id))
}

/// The webhook's deliveries, newest first: state, attempts, the receiver's last status.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path), PageQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/webhooks/{webhook_id}/deliveries")]
async fn list_deliveries(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let hook = organized_webhook(&state, &auth, &path).await?;
    let limit = query.limit()?;
    let before = query.cursor()?.map(parse_delivery_cursor).transpose()?;
    let rows = store::webhooks::deliveries(&state.db, &hook.id, before, limit).await?;
    let items: Vec<DeliveryView> = rows.into_iter().map(delivery_view).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, delivery_cursor)))
}

/// Queues a `webhook.test` event for this webhook alone, to check the receiver end to end.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = String, Path)),
    responses((status = 202, body = QueuedTest), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[post("/webhooks/{webhook_id}/test")]
async fn test_webhook(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let hook = organized_webhook(&state, &auth, &path).await?;
    let delivery = store::webhooks::emit_test(&state.db, &hook).await?;
    Ok(HttpResponse::Accepted().json(QueuedTest {
        event_id: delivery.event_id,
        delivery_id: delivery.id,
    }))
}
