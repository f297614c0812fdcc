//! Every query, as plain async functions over a connection or transaction. The bounded reads
//! of a request (the session, the caller's seat, a round's agenda, roster and notes) take
//! `&impl db::Fetch` instead: any connection or transaction is one, and so is `db::Reader`,
//! which runs them on the request's own thread on SQLite (see `db::reader` for why).

pub mod agenda;
pub mod api_tokens;
pub mod audit;
pub mod dialogues;
pub mod invitations;
pub mod notes;
pub mod participants;
pub mod rounds;
pub mod sessions;
pub mod users;
pub mod webhooks;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// Current time, truncated to whole microseconds so PostgreSQL and SQLite store the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Locks one row until the transaction ends, so read-then-write sequences on it (sequence
/// numbers, delegation counts, single-use tokens) serialise. PostgreSQL takes a row lock;
/// SQLite needs nothing more, since its write transactions (`db::begin_write`) already hold the
/// database's single write lock from their first statement.
pub async fn lock_row(
    db: &impl ConnectionTrait,
    table: &'static str,
    id: &str,
) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"),
            [id.into()],
        ))
        .await?;
    }
    Ok(())
}
