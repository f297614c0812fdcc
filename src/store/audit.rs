//! The audit trail of organizer actions: invitations, roles, rounds, agenda. Never notes.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, NotSet, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;

use crate::entities::audit_entry;

use super::now;

pub struct Entry<'a> {
    pub dialogue_id: &'a str,
    pub round_id: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<&'a str>,
    pub detail: Option<Value>,
}

pub async fn record(db: &impl ConnectionTrait, entry: Entry<'_>) -> Result<(), DbErr> {
    audit_entry::ActiveModel {
        id: NotSet,
        dialogue_id: Set(entry.dialogue_id.to_owned()),
        round_id: Set(entry.round_id.map(str::to_owned)),
        actor_id: Set(entry.actor_id.map(str::to_owned)),
        action: Set(entry.action.to_owned()),
        target_type: Set(entry.target_type.to_owned()),
        target_id: Set(entry.target_id.map(str::to_owned)),
        detail: Set(entry.detail.map(|d| d.to_string())),
        created_at: Set(now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

pub struct Filter {
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Newest first, after the cursor (an entry id).
pub async fn list(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    filter: &Filter,
    before: Option<i32>,
    limit: u64,
) -> Result<Vec<audit_entry::Model>, DbErr> {
    let mut q = audit_entry::Entity::find()
        .filter(audit_entry::Column::DialogueId.eq(dialogue_id))
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        q = q.filter(audit_entry::Column::Id.lt(before));
    }
    if let Some(action) = &filter.action {
        q = q.filter(audit_entry::Column::Action.eq(action.as_str()));
    }
    if let Some(since) = filter.since {
        q = q.filter(audit_entry::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_entry::Column::CreatedAt.lt(until));
    }
    q.all(db).await
}
