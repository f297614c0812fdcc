//! Rounds. Sequence numbers are assigned inside a write transaction holding the dialogue's row
//! lock, so two organizers creating rounds at once get consecutive numbers, never a gap or a
//! duplicate (a unique index backs this up).

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::round::RoundStatus;
use crate::entities::{participant, round};

use super::{lock_row, new_id, now};

pub struct NewRound {
    pub title: String,
    pub venue_name: Option<String>,
    pub venue_city: Option<String>,
    pub venue_country: Option<String>,
    pub timezone: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub rule: String,
}

/// Call inside a `db::begin_write` transaction.
pub async fn create(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    new: NewRound,
) -> Result<round::Model, DbErr> {
    lock_row(db, "dialogues", dialogue_id).await?;
    let last: Option<i32> = round::Entity::find()
        .select_only()
        .column_as(round::Column::Sequence.max(), "max")
        .filter(round::Column::DialogueId.eq(dialogue_id))
        .into_tuple::<Option<i32>>()
        .one(db)
        .await?
        .flatten();
    let now = now();
    round::ActiveModel {
        id: Set(new_id()),
        dialogue_id: Set(dialogue_id.to_owned()),
        sequence: Set(last.unwrap_or(0) + 1),
        title: Set(new.title),
        venue_name: Set(new.venue_name),
        venue_city: Set(new.venue_city),
        venue_country: Set(new.venue_country),
        timezone: Set(new.timezone),
        starts_on: Set(new.starts_on),
        ends_on: Set(new.ends_on),
        status: Set(RoundStatus::Draft.as_str().to_owned()),
        rule: Set(new.rule),
        created_at: Set(now),
        updated_at: Set(now),
        guard_epoch: Set(0),
        agenda_epoch: Set(0),
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<round::Model>, DbErr> {
    round::Entity::find_by_id(id.to_owned()).one(db).await
}

/// The venue country of the dialogue's latest round that has one.
pub async fn last_venue_country(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(round::Entity::find()
        .filter(round::Column::DialogueId.eq(dialogue_id))
        .filter(round::Column::VenueCountry.is_not_null())
        .order_by_desc(round::Column::Sequence)
        .one(db)
        .await?
        .and_then(|r| r.venue_country))
}

pub struct ListFilter {
    pub status: Option<RoundStatus>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The dialogue's rounds by sequence, after the cursor; `member` restricts to rounds the user
/// takes part in (for callers who do not organize the dialogue).
pub async fn list(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    member: Option<&str>,
    filter: &ListFilter,
    after: Option<i32>,
    limit: u64,
) -> Result<Vec<round::Model>, DbErr> {
    let mut q = round::Entity::find()
        .filter(round::Column::DialogueId.eq(dialogue_id))
        .order_by_asc(round::Column::Sequence)
        .limit(limit);
    if let Some(user_id) = member {
        let mine = sea_orm::sea_query::Query::select()
            .column(participant::Column::RoundId)
            .from(participant::Entity)
            .and_where(participant::Column::UserId.eq(user_id))
            .to_owned();
        q = q.filter(round::Column::Id.in_subquery(mine));
    }
    if let Some(after) = after {
        q = q.filter(round::Column::Sequence.gt(after));
    }
    if let Some(status) = filter.status {
        q = q.filter(round::Column::Status.eq(status.as_str()));
    }
    if let Some(from) = filter.from {
        q = q.filter(round::Column::EndsOn.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(round::Column::StartsOn.lte(to));
    }
    q.all(db).await
}

pub async fn update(
    db: &impl ConnectionTrait,
    model: round::ActiveModel,
) -> Result<round::Model, DbErr> {
    let mut model = model;
    model.updated_at = Set(now());
    model.update(db).await
}

/// Moves the round from `from` to `to`; false when its status was no longer `from`.
pub async fn set_status(
    db: &impl ConnectionTrait,
    id: &str,
    from: RoundStatus,
    to: RoundStatus,
) -> Result<bool, DbErr> {
    let res = round::Entity::update_many()
        .col_expr(round::Column::Status, Expr::value(to.as_str()))
        .col_expr(round::Column::UpdatedAt, Expr::value(now()))
        .filter(round::Column::Id.eq(id))
        .filter(round::Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
