//! Webhooks and their deliveries.
//!
//! [`emit`] is called inside the transaction of the change it reports, so an event is queued
//! if and only if the change commits (a transactional outbox): a crash, a restart or a receiver
//! outage loses nothing. Payloads are built by the caller from ids and non-confidential fields;
//! nothing here reads notes, the roster or who did what.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::{Value, json};

use crate::domain::webhooks::{Event, Events};
use crate::entities::{webhook, webhook_delivery};

use super::{new_id, now};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// Most webhooks one dialogue may have.
pub const MAX_PER_DIALOGUE: u64 = 20;

pub struct NewWebhook {
    pub id: String,
    pub dialogue_id: String,
    pub url: String,
    pub events: Events,
    pub description: Option<String>,
    pub secret_sealed: String,
    pub key_id: String,
}

pub async fn create(db: &impl ConnectionTrait, w: NewWebhook) -> Result<webhook::Model, DbErr> {
    webhook::ActiveModel {
        id: Set(w.id),
        dialogue_id: Set(w.dialogue_id),
        url: Set(w.url),
        events: Set(w.events.to_stored()),
        description: Set(w.description),
        secret_sealed: Set(w.secret_sealed),
        key_id: Set(w.key_id),
        created_at: Set(now()),
    }
    .insert(db)
    .await
}

pub async fn count(db: &impl ConnectionTrait, dialogue_id: &str) -> Result<u64, DbErr> {
    webhook::Entity::find()
        .filter(webhook::Column::DialogueId.eq(dialogue_id))
        .count(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<webhook::Model>, DbErr> {
    webhook::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A dialogue's webhooks, by id, after the cursor.
pub async fn list(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<webhook::Model>, DbErr> {
    let mut q = webhook::Entity::find()
        .filter(webhook::Column::DialogueId.eq(dialogue_id))
        .order_by_asc(webhook::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(webhook::Column::Id.gt(after));
    }
    q.all(db).await
}

/// Deletes the webhook; its deliveries go with it (foreign key cascade).
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let res = webhook::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// The JSON body of one event: `{id, type, created_at, data}`. The same body goes to every
/// webhook of the event, so receivers may de-duplicate on `id`.
fn envelope(event_id: &str, event: Event, at: DateTime<Utc>, data: &Value) -> String {
    json!({
        "id": event_id,
        "type": event.as_str(),
        "created_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": data,
    })
    .to_string()
}

fn delivery(
    webhook_id: &str,
    event_id: &str,
    event: Event,
    payload: String,
) -> webhook_delivery::ActiveModel {
    let now = now();
    webhook_delivery::ActiveModel {
        id: Set(new_id()),
        webhook_id: Set(webhook_id.to_owned()),
        event_id: Set(event_id.to_owned()),
        event: Set(event.as_str().to_owned()),
        payload: Set(payload),
        state: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        last_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        delivered_at: Set(None),
    }
}

/// Queues `event` for every webhook of the dialogue that subscribes to it, inside the caller's
/// transaction. Returns the event id (one per call, shared by its deliveries).
pub async fn emit(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    event: Event,
    data: Value,
) -> Result<String, DbErr> {
    let hooks: Vec<(String, String)> = webhook::Entity::find()
        .select_only()
        .column(webhook::Column::Id)
        .column(webhook::Column::Events)
        .filter(webhook::Column::DialogueId.eq(dialogue_id))
        .into_tuple()
        .all(db)
        .await?;
    let event_id = new_id();
    let subscribed: Vec<_> = hooks
        .iter()
        .filter(|(_, events)| Events::from_stored(events).contains(event))
        .collect();
    if subscribed.is_empty() {
        return Ok(event_id);
    }
    let mut data = data;
    if let Value::Object(map) = &mut data {
        map.insert("dialogue_id".into(), Value::String(dialogue_id.to_owned()));
    }
    let payload = envelope(&event_id, event, now(), &data);
    let rows: Vec<_> = subscribed
        .iter()
        .map(|(id, _)| delivery(id, &event_id, event, payload.clone()))
        .collect();
    webhook_delivery::Entity::insert_many(rows).exec(db).await?;
    Ok(event_id)
}

/// Queues a `webhook.test` event for one webhook; returns the delivery.
pub async fn emit_test(
    db: &impl ConnectionTrait,
    hook: &webhook::Model,
) -> Result<webhook_delivery::Model, DbErr> {
    let event_id = new_id();
    let data = json!({"dialogue_id": hook.dialogue_id, "webhook_id": hook.id});
    let payload = envelope(&event_id, Event::Test, now(), &data);
    delivery(&hook.id, &event_id, Event::Test, payload)
        .insert(db)
        .await
}

/// A webhook's deliveries, newest first, after the cursor `(created_at, id)`.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    webhook_id: &str,
    before: Option<(DateTime<Utc>, &str)>,
    limit: u64,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    let mut q = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(limit);
    if let Some((at, id)) = before {
        q = q.filter(
            Condition::any()
                .add(webhook_delivery::Column::CreatedAt.lt(at))
                .add(
                    Condition::all()
                        .add(webhook_delivery::Column::CreatedAt.eq(at))
                        .add(webhook_delivery::Column::Id.lt(id)),
                ),
        );
    }
    q.all(db).await
}

/// Deliveries still to be sent (metrics and tests).
pub async fn pending_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::State.eq(PENDING))
        .count(db)
        .await
}

/// Forgets delivered and failed deliveries created before `before`.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::State.ne(PENDING))
        .filter(webhook_delivery::Column::CreatedAt.lt(before))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
