//! Agenda items, their topics, leads, status history and published versions. Positions stay
//! dense (1..n) and unique: every write that changes them runs in a write transaction holding
//! the round's row lock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::db::{self, Fetch};
use crate::domain::agenda::{ItemStatus, VersionItem};
use crate::entities::{
    agenda_item, agenda_lead, agenda_status_history, agenda_topic, agenda_version, round,
};

use super::{new_id, now};

pub const MAX_ITEMS_PER_ROUND: u64 = 200;

pub struct NewItem {
    pub lineage_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub kind: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub topics: Vec<String>,
    pub leads: Vec<String>,
}

/// An item with its topics and leads.
#[derive(Debug, Clone)]
pub struct Item {
    pub item: agenda_item::Model,
    pub topics: Vec<String>,
    pub leads: Vec<String>,
}

/// Appends an item to the round's agenda. Call with the round's row locked.
pub async fn create(
    db: &impl ConnectionTrait,
    round_id: &str,
    new: NewItem,
) -> Result<Item, DbErr> {
    let last: Option<i32> = agenda_item::Entity::find()
        .select_only()
        .column_as(agenda_item::Column::Position.max(), "max")
        .filter(agenda_item::Column::RoundId.eq(round_id))
        .into_tuple::<Option<i32>>()
        .one(db)
        .await?
        .flatten();
    let id = new_id();
    let now = now();
    let item = agenda_item::ActiveModel {
        lineage_id: Set(new.lineage_id.unwrap_or_else(|| id.clone())),
        id: Set(id),
        round_id: Set(round_id.to_owned()),
        position: Set(last.unwrap_or(0) + 1),
        title: Set(new.title),
        description: Set(new.description),
        kind: Set(new.kind),
        starts_at: Set(new.starts_at),
        ends_at: Set(new.ends_at),
        status: Set(ItemStatus::Planned.as_str().to_owned()),
        outcome_sealed: Set(None),
        outcome_key_id: Set(None),
        revision: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    set_topics(db, &item.id, &new.topics).await?;
    set_leads(db, &item.id, &new.leads).await?;
    Ok(Item {
        item,
        topics: new.topics,
        leads: new.leads,
    })
}

pub async fn set_topics(
    db: &impl ConnectionTrait,
    item_id: &str,
    topics: &[String],
) -> Result<(), DbErr> {
    agenda_topic::Entity::delete_many()
        .filter(agenda_topic::Column::ItemId.eq(item_id))
        .exec(db)
        .await?;
    for topic in topics {
        agenda_topic::ActiveModel {
            item_id: Set(item_id.to_owned()),
            topic: Set(topic.clone()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

pub async fn set_leads(
    db: &impl ConnectionTrait,
    item_id: &str,
    leads: &[String],
) -> Result<(), DbErr> {
    agenda_lead::Entity::delete_many()
        .filter(agenda_lead::Column::ItemId.eq(item_id))
        .exec(db)
        .await?;
    for lead in leads {
        agenda_lead::ActiveModel {
            item_id: Set(item_id.to_owned()),
            user_id: Set(lead.clone()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

pub async fn find(db: &impl Fetch, id: &str) -> Result<Option<Item>, DbErr> {
    let Some(item) = db::one(db, agenda_item::Entity::find_by_id(id.to_owned())).await? else {
        return Ok(None);
    };
    Ok(with_details(db, vec![item]).await?.pop())
}

/// Which items' topics and leads to read.
enum Details<'a> {
    /// These items (any rounds).
    Items(Vec<String>),
    /// Every item of a round: the query names the round, not a list of ids, so SQLite walks
    /// the round's index instead of building a table of the ids each time.
    Round(&'a str),
}

/// Attaches topics and leads to items, in one query for any number of items.
async fn with_details(db: &impl Fetch, items: Vec<agenda_item::Model>) -> Result<Vec<Item>, DbErr> {
    let ids = items.iter().map(|i| i.id.clone()).collect();
    details(db, Details::Items(ids), items).await
}

async fn details(
    db: &impl Fetch,
    which: Details<'_>,
    items: Vec<agenda_item::Model>,
) -> Result<Vec<Item>, DbErr> {
    use sea_orm::sea_query::{ColumnRef, IntoColumnRef, IntoTableRef, Query, UnionType};
    if items.is_empty() {
        return Ok(vec![]);
    }
    // ('t', item, topic) and ('l', item, user) rows, from one table each.
    let part = |kind: &str, item: ColumnRef, value: ColumnRef, table| {
        let mut q = Query::select();
        q.expr_as(Expr::val(kind), "kind")
            .expr_as(Expr::col(item.clone()), "item_id")
            .expr_as(Expr::col(value), "value");
        match &which {
            Details::Items(ids) => {
                q.from(table).and_where(Expr::col(item).is_in(ids.clone()));
            }
            Details::Round(round_id) => {
                let on = Expr::col((agenda_item::Entity, agenda_item::Column::Id))
                    .eq(Expr::col(item))
                    .and(
                        Expr::col((agenda_item::Entity, agenda_item::Column::RoundId))
                            .eq(*round_id),
                    );
                q.from(agenda_item::Entity).inner_join(table, on);
            }
        }
        q
    };
    let mut query = part(
        "t",
        (agenda_topic::Entity, agenda_topic::Column::ItemId).into_column_ref(),
        (agenda_topic::Entity, agenda_topic::Column::Topic).into_column_ref(),
        agenda_topic::Entity.into_table_ref(),
    );
    let leads = part(
        "l",
        (agenda_lead::Entity, agenda_lead::Column::ItemId).into_column_ref(),
        (agenda_lead::Entity, agenda_lead::Column::UserId).into_column_ref(),
        agenda_lead::Entity.into_table_ref(),
    );
    query.union(UnionType::All, leads);
    attach(items, db.fetch(db.backend().build(&query)).await?)
}

/// Gives each item its rows of ('t', item, topic) and ('l', item, user).
fn attach(items: Vec<agenda_item::Model>, rows: Vec<db::Row>) -> Result<Vec<Item>, DbErr> {
    let mut topics: HashMap<String, Vec<String>> = HashMap::new();
    let mut leads: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let kind: String = row.get("kind")?;
        let item_id: String = row.get("item_id")?;
        let value: String = row.get("value")?;
        let into = if kind == "t" { &mut topics } else { &mut leads };
        into.entry(item_id).or_default().push(value);
    }
    Ok(items
        .into_iter()
        .map(|item| {
            let mut topics = topics.remove(&item.id).unwrap_or_default();
            let mut leads = leads.remove(&item.id).unwrap_or_default();
            topics.sort_unstable();
            leads.sort_unstable();
            Item {
                topics,
                leads,
                item,
            }
        })
        .collect())
}

/// The round's items in agenda order.
pub async fn list(db: &impl Fetch, round_id: &str) -> Result<Vec<Item>, DbErr> {
    let items = db::all(
        db,
        agenda_item::Entity::find()
            .filter(agenda_item::Column::RoundId.eq(round_id))
            .order_by_asc(agenda_item::Column::Position),
    )
    .await?;
    details(db, Details::Round(round_id), items).await
}

pub async fn count(db: &impl ConnectionTrait, round_id: &str) -> Result<u64, DbErr> {
    agenda_item::Entity::find()
        .filter(agenda_item::Column::RoundId.eq(round_id))
        .count(db)
        .await
}

/// Saves an edited item, bumping its revision (its ETag and calendar SEQUENCE).
pub async fn update(
    db: &impl ConnectionTrait,
    model: agenda_item::Model,
    topics: Option<&[String]>,
    leads: Option<&[String]>,
) -> Result<Item, DbErr> {
    let revision = model.revision + 1;
    let mut active: agenda_item::ActiveModel = model.into();
    active.revision = Set(revision);
    active.updated_at = Set(now());
    let item = active.reset_all().update(db).await?;
    if let Some(t) = topics {
        set_topics(db, &item.id, t).await?;
    }
    if let Some(l) = leads {
        set_leads(db, &item.id, l).await?;
    }
    Ok(find(db, &item.id).await?.expect("the item was just saved"))
}

/// Deletes an item and closes the gap in positions. Call with the round's row locked.
pub async fn delete(db: &impl ConnectionTrait, item: &agenda_item::Model) -> Result<(), DbErr> {
    agenda_item::Entity::delete_by_id(item.id.clone())
        .exec(db)
        .await?;
    agenda_item::Entity::update_many()
        .col_expr(
            agenda_item::Column::Position,
            Expr::col(agenda_item::Column::Position).sub(1),
        )
        .filter(agenda_item::Column::RoundId.eq(item.round_id.as_str()))
        .filter(agenda_item::Column::Position.gt(item.position))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives the round's items the positions of `ordered` (a permutation of their ids). Call with
/// the round's row locked.
pub async fn reorder(db: &impl ConnectionTrait, ordered: &[String]) -> Result<(), DbErr> {
    for (i, id) in ordered.iter().enumerate() {
        agenda_item::Entity::update_many()
            .col_expr(agenda_item::Column::Position, Expr::value(i as i32 + 1))
            .col_expr(
                agenda_item::Column::Revision,
                Expr::col(agenda_item::Column::Revision).add(1),
            )
            .filter(agenda_item::Column::Id.eq(id.as_str()))
            .filter(agenda_item::Column::Position.ne(i as i32 + 1))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Records a status change (and the sealed outcome, if any) with its history row.
pub async fn set_status(
    db: &impl ConnectionTrait,
    item: &agenda_item::Model,
    to: ItemStatus,
    outcome: Option<(String, String)>,
) -> Result<(), DbErr> {
    let mut update = agenda_item::Entity::update_many()
        .col_expr(agenda_item::Column::Status, Expr::value(to.as_str()))
        .col_expr(
            agenda_item::Column::Revision,
            Expr::value(item.revision + 1),
        )
        .col_expr(agenda_item::Column::UpdatedAt, Expr::value(now()))
        .filter(agenda_item::Column::Id.eq(item.id.as_str()));
    if let Some((key_id, sealed)) = outcome {
        update = update
            .col_expr(agenda_item::Column::OutcomeSealed, Expr::value(sealed))
            .col_expr(agenda_item::Column::OutcomeKeyId, Expr::value(key_id));
    }
    update.exec(db).await?;
    agenda_status_history::ActiveModel {
        id: NotSet,
        item_id: Set(item.id.clone()),
        from_status: Set(item.status.clone()),
        to_status: Set(to.as_str().to_owned()),
        at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn history(
    db: &impl ConnectionTrait,
    item_id: &str,
) -> Result<Vec<agenda_status_history::Model>, DbErr> {
    agenda_status_history::Entity::find()
        .filter(agenda_status_history::Column::ItemId.eq(item_id))
        .order_by_asc(agenda_status_history::Column::Id)
        .all(db)
        .await
}

/// Every item of a lineage with its round, by round sequence.
pub async fn lineage(
    db: &impl ConnectionTrait,
    lineage_id: &str,
) -> Result<Vec<(Item, round::Model)>, DbErr> {
    let items = agenda_item::Entity::find()
        .filter(agenda_item::Column::LineageId.eq(lineage_id))
        .all(db)
        .await?;
    let rounds = rounds_of(db, &items).await?;
    let mut out: Vec<(Item, round::Model)> = with_details(db, items)
        .await?
        .into_iter()
        .filter_map(|i| Some((rounds.get(&i.item.round_id)?.clone(), i)))
        .map(|(r, i)| (i, r))
        .collect();
    out.sort_by_key(|(_, r)| r.sequence);
    Ok(out)
}

async fn rounds_of(
    db: &impl ConnectionTrait,
    items: &[agenda_item::Model],
) -> Result<HashMap<String, round::Model>, DbErr> {
    let mut ids: Vec<String> = items.iter().map(|i| i.round_id.clone()).collect();
    ids.sort();
    ids.dedup();
    Ok(round::Entity::find()
        .filter(round::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect())
}

/// Items of the given rounds carrying `topic`, by round sequence then position. For speed on
/// long histories the items come without their leads, and with `topic` as their only topic.
pub async fn items_with_topic(
    db: &impl ConnectionTrait,
    round_ids: &[String],
    topic: &str,
) -> Result<Vec<(Item, round::Model)>, DbErr> {
    let tagged = sea_orm::sea_query::Query::select()
        .column(agenda_topic::Column::ItemId)
        .from(agenda_topic::Entity)
        .and_where(agenda_topic::Column::Topic.eq(topic))
        .to_owned();
    let items = agenda_item::Entity::find()
        .filter(agenda_item::Column::RoundId.is_in(round_ids.to_vec()))
        .filter(agenda_item::Column::Id.in_subquery(tagged))
        .all(db)
        .await?;
    let rounds = rounds_of(db, &items).await?;
    let mut out: Vec<(Item, round::Model)> = items
        .into_iter()
        .filter_map(|item| {
            let round = rounds.get(&item.round_id)?.clone();
            Some((
                Item {
                    item,
                    topics: vec![topic.to_owned()],
                    leads: vec![],
                },
                round,
            ))
        })
        .collect();
    out.sort_by_key(|(i, r)| (r.sequence, i.item.position));
    Ok(out)
}

/// Topics of the given rounds' items: (topic, items, rounds), by topic.
pub async fn topic_counts(
    db: &impl ConnectionTrait,
    round_ids: &[String],
) -> Result<Vec<(String, u64, u64)>, DbErr> {
    let items = agenda_item::Entity::find()
        .select_only()
        .column(agenda_item::Column::Id)
        .column(agenda_item::Column::RoundId)
        .filter(agenda_item::Column::RoundId.is_in(round_ids.to_vec()))
        .into_tuple::<(String, String)>()
        .all(db)
        .await?;
    let round_of: HashMap<String, String> = items.into_iter().collect();
    let topics = agenda_topic::Entity::find()
        .filter(agenda_topic::Column::ItemId.is_in(round_of.keys().cloned().collect::<Vec<_>>()))
        .all(db)
        .await?;
    let mut counts: std::collections::BTreeMap<String, (u64, std::collections::HashSet<String>)> =
        Default::default();
    for t in topics {
        let entry = counts.entry(t.topic).or_default();
        entry.0 += 1;
        if let Some(r) = round_of.get(&t.item_id) {
            entry.1.insert(r.clone());
        }
    }
    Ok(counts
        .into_iter()
        .map(|(topic, (items, rounds))| (topic, items, rounds.len() as u64))
        .collect())
}

/// Freezes the next numbered version of the round's agenda. Call with the round's row locked.
pub async fn publish(
    db: &impl ConnectionTrait,
    round_id: &str,
    items: &[VersionItem],
) -> Result<agenda_version::Model, DbErr> {
    let last: Option<i32> = agenda_version::Entity::find()
        .select_only()
        .column_as(agenda_version::Column::Number.max(), "max")
        .filter(agenda_version::Column::RoundId.eq(round_id))
        .into_tuple::<Option<i32>>()
        .one(db)
        .await?
        .flatten();
    agenda_version::ActiveModel {
        round_id: Set(round_id.to_owned()),
        number: Set(last.unwrap_or(0) + 1),
        snapshot: Set(serde_json::to_string(items).expect("version items serialise")),
        published_at: Set(now()),
    }
    .insert(db)
    .await
}

/// The round's published versions by number, after the version numbered `after`.
pub async fn versions(
    db: &impl ConnectionTrait,
    round_id: &str,
    after: Option<i32>,
    limit: u64,
) -> Result<Vec<agenda_version::Model>, DbErr> {
    let mut q = agenda_version::Entity::find()
        .filter(agenda_version::Column::RoundId.eq(round_id))
        .order_by_asc(agenda_version::Column::Number)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(agenda_version::Column::Number.gt(after));
    }
    q.all(db).await
}

pub async fn version(
    db: &impl ConnectionTrait,
    round_id: &str,
    number: i32,
) -> Result<Option<agenda_version::Model>, DbErr> {
    agenda_version::Entity::find_by_id((round_id.to_owned(), number))
        .one(db)
        .await
}

pub async fn latest_version(
    db: &impl Fetch,
    round_id: &str,
) -> Result<Option<agenda_version::Model>, DbErr> {
    db::one(
        db,
        agenda_version::Entity::find()
            .filter(agenda_version::Column::RoundId.eq(round_id))
            .order_by_desc(agenda_version::Column::Number),
    )
    .await
}

pub fn snapshot_items(version: &agenda_version::Model) -> Vec<VersionItem> {
    serde_json::from_str(&version.snapshot).unwrap_or_default()
}
