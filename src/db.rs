//! Connecting to the database, and write transactions that never fail with "database is locked".
//!
//! SQLite runs in WAL mode so readers proceed beside the single writer; `busy_timeout` makes
//! a writer queue instead of failing; `synchronous = FULL` because a 201 for a note is a promise
//! that the note survives a crash or power loss (NORMAL in WAL mode may lose the last commits on
//! power loss); `secure_delete` overwrites deleted content so a removed note leaves no trace in
//! the file; foreign keys are enforced. Write transactions start with `BEGIN IMMEDIATE`, taking
//! the write lock up front, so a read-then-write transaction can never hit SQLITE_BUSY midway.
//!
//! Every SQLite connection also runs with the query planner stability guarantee (QPSG). Without
//! it, SQLite 3.51 plans `LIMIT ?` around the bound value and marks the statement to be prepared
//! again whenever that parameter is rebound, so every `.one()` and every page query was parsed
//! and planned anew on each execution despite sqlx's statement cache. With QPSG a plan never
//! depends on bound values (we keep no `sqlite_stat4` samples and use no `LIKE ?` patterns, so
//! no better plan is lost) and cached statements are reused as they are.

pub mod commits;
pub mod pcache;
pub mod reader;
pub mod shape;
pub mod writer;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::settings::Settings;

pub use reader::{Fetch, Reader, Row, all, models, one};
pub use writer::Writer;

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.database_url();
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(settings.database.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        // Statements are never logged: bound values would carry note bodies and emails.
        .sqlx_logging(false)
        // A ping before every query doubles the round trips: ping only connections that sat idle.
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    if settings.uses_sqlite() {
        let busy = Duration::from_millis(settings.database.sqlite_busy_timeout_ms);
        // Before anything starts SQLite: it takes a page cache only then.
        if !pcache::install() {
            tracing::debug!(
                "SQLite was started before the page cache could be set; it keeps its own"
            );
        }
        let vfs = commits::vfs().map_err(DbErr::Custom)?;
        options.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .vfs(vfs)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy)
                .pragma("secure_delete", "ON")
        });
        options.map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    stable_query_plans(handle.as_raw_handle())
                })
            })
        });
    }
    let db = Database::connect(options).await?;
    if settings.uses_sqlite() {
        crate::storage::restrict_files(&settings.storage.data_dir);
    }
    Ok(db)
}

/// A transaction that will write: on SQLite it takes the write lock at `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let mode = match db.get_database_backend() {
        DbBackend::Sqlite => Some(SqliteTransactionMode::Immediate),
        _ => None,
    };
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: mode,
        ..Default::default()
    })
    .await
}

/// `SELECT 1`, for readiness.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

/// Turns on the query planner stability guarantee for one SQLite connection (module docs).
fn stable_query_plans(
    db: std::ptr::NonNull<libsqlite3_sys::sqlite3>,
) -> Result<(), sea_orm::sqlx::Error> {
    match qpsg(db, 1) {
        Some(1) => Ok(()),
        _ => Err(sea_orm::sqlx::Error::Configuration(
            "SQLite refused SQLITE_DBCONFIG_ENABLE_QPSG".into(),
        )),
    }
}

/// Sets QPSG to `value` (1 on, 0 off, -1 leaves it) and returns the setting now in force.
fn qpsg(db: std::ptr::NonNull<libsqlite3_sys::sqlite3>, value: i32) -> Option<i32> {
    let mut now: std::ffi::c_int = -1;
    // SAFETY: `db` is a live handle locked out of sqlx's worker thread by `lock_handle` for the
    // duration of the call; ENABLE_QPSG takes an int and an int* that SQLite writes once.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            value as std::ffi::c_int,
            &mut now as *mut std::ffi::c_int,
        )
    };
    (rc == libsqlite3_sys::SQLITE_OK).then_some(now)
}

/// A migrated SQLite database in a temporary directory, and its pool, for unit tests.
#[cfg(test)]
pub(crate) async fn scratch_database() -> (tempfile::TempDir, DatabaseConnection) {
    use migrations::{Migrator, MigratorTrait};
    let dir = tempfile::tempdir().unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = Settings::load_files(&config, Some("test")).unwrap();
    settings.storage.data_dir = dir.path().join("data");
    crate::storage::prepare_data_dir(&settings.storage.data_dir).unwrap();
    let db = connect(&settings).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    (dir, db)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[tokio::test]
    async fn every_pooled_sqlite_connection_plans_without_reading_bound_values() {
        let dir = tempfile::tempdir().unwrap();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut settings = Settings::load_files(&config, Some("test")).unwrap();
        settings.storage.data_dir = dir.path().join("data");
        crate::storage::prepare_data_dir(&settings.storage.data_dir).unwrap();
        settings.database.max_connections = 3;
        let db = connect(&settings).await.unwrap();
        let pool = db.get_sqlite_connection_pool();
        // Hold every connection at once, so each one the pool opened is looked at.
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(pool.acquire().await.unwrap());
        }
        for conn in &mut held {
            let mut handle = conn.lock_handle().await.unwrap();
            assert_eq!(qpsg(handle.as_raw_handle(), -1), Some(1));
        }
    }
}
