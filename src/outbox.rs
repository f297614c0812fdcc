//! The claim step of the background senders (mail, webhooks), written once.
//!
//! A sender takes due rows for a while (`claimed_until`) before it works on them, so several
//! nodes never send the same row at once: on PostgreSQL the claiming
//! `SELECT … FOR UPDATE SKIP LOCKED` lets concurrent senders take disjoint rows; on SQLite the
//! `BEGIN IMMEDIATE` write transaction from [`crate::db::begin_write`] serialises claimers. A
//! claim expires, so the rows of a node that crashed mid-pass are taken by another later.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Select,
};

use crate::store::now;

/// `query` locked on PostgreSQL so concurrent claimers skip each other's rows. SQLite has no
/// row locks; its write transaction already serialises claimers.
pub fn for_claim<E: EntityTrait>(query: Select<E>, backend: DbBackend) -> Select<E> {
    if backend == DbBackend::Postgres {
        query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
    } else {
        query
    }
}

/// The columns a claim reads and writes.
pub struct Columns<E: EntityTrait> {
    pub id: E::Column,
    pub claimed_until: E::Column,
    pub id_of: fn(&E::Model) -> String,
}

/// Claims the rows of `due(now)` (a query that orders and limits them) for `hold`; returns the
/// claim's expiry, which also identifies it when the outcome is recorded, and the rows.
pub async fn claim<E: EntityTrait>(
    db: &DatabaseConnection,
    due: impl Fn(DateTime<Utc>) -> Select<E>,
    columns: Columns<E>,
    hold: chrono::Duration,
) -> Result<Option<(DateTime<Utc>, Vec<E::Model>)>, DbErr> {
    // A plain read first, so an idle poll never takes SQLite's write lock.
    let any_due: Option<String> = due(now())
        .select_only()
        .column(columns.id)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    if any_due.is_none() {
        return Ok(None);
    }
    let txn = crate::db::begin_write(db).await?;
    let now = now();
    let rows = for_claim(due(now), txn.get_database_backend())
        .all(&txn)
        .await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(None);
    }
    let until = now + hold;
    E::update_many()
        .col_expr(columns.claimed_until, Expr::value(until))
        .filter(columns.id.is_in(rows.iter().map(columns.id_of)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some((until, rows)))
}

#[cfg(test)]
mod tests {
    use sea_orm::QueryTrait;

    use super::*;
    use crate::entities::mail_outbox;

    #[test]
    fn the_claim_locks_rows_on_postgres_only() {
        let query = || mail_outbox::Entity::find().limit(20);
        let pg = for_claim(query(), DbBackend::Postgres)
            .build(DbBackend::Postgres)
            .to_string();
        assert!(pg.ends_with("LIMIT 20 FOR UPDATE SKIP LOCKED"), "{pg}");
        let sqlite = for_claim(query(), DbBackend::Sqlite)
            .build(DbBackend::Sqlite)
            .to_string();
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
    }
}
