//! Connecting to the database, and write transactions that never fail with "database is locked".
//!
//! SQLite runs in WAL mode so readers proceed beside the single writer; `busy_timeout` makes
//! a writer queue instead of failing; `synchronous = FULL` because a 201 for a note is a promise
//! that the note survives a crash or power loss (NORMAL in WAL mode may lose the last commits on
//! power loss); `secure_delete` overwrites deleted content so a removed note leaves no trace in
//! the file; foreign keys are enforced. Write transactions start with `BEGIN IMMEDIATE`, taking
//! the write lock up front, so a read-then-write transaction can never hit SQLITE_BUSY midway.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::settings::Settings;

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
        options.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy)
                .pragma("secure_delete", "ON")
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
