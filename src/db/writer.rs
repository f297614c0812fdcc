//! Group commit for the short, independent writes that arrive many at a time: notes.
//!
//! On SQLite every commit is a WAL append and, with `synchronous = FULL`, an fsync, and the
//! file has one writer at a time. Posting a note alone is a handful of microseconds of SQLite
//! work; the transaction around it (the hand-off to sqlx's connection thread for `BEGIN`,
//! `INSERT` and `COMMIT`, the fsync, the wake-ups) is nearly all of its cost. [`Writer`] hands
//! such writes to one thread of its own, which takes every write waiting when it becomes free
//! and commits them in one transaction: one `BEGIN IMMEDIATE`, one fsync, however many notes.
//!
//! Each write keeps its own outcome. It runs inside a savepoint of the shared transaction, so a
//! write that fails (a constraint, say) is rolled back alone and reported to its caller alone,
//! and the others commit. A caller hears `Ok` only after the commit that holds its write is
//! durable; if that commit fails, every write in it hears the error and none is stored.
//!
//! The thread's connection is set up as the pool's are (WAL, `synchronous = FULL`, foreign
//! keys, `secure_delete`, `busy_timeout`, QPSG), except that it checkpoints between groups
//! rather than inside a commit ([`checkpoint_if_due`]), and takes the write lock at `BEGIN` like every
//! write transaction (`db::begin_write`), so it queues behind the pool's writers and they
//! behind it, and neither sees "database is locked". On PostgreSQL, which commits concurrent
//! transactions in groups itself, `Writer` is the pool: each write is its own transaction.

use std::cell::Cell;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};
use tokio::sync::oneshot;

/// Where grouped writes go: one committing thread on SQLite, the pool on PostgreSQL.
#[derive(Clone)]
pub enum Writer {
    Pool(DatabaseConnection),
    Sqlite(mpsc::Sender<Message>),
}

/// What the committing thread receives.
pub enum Message {
    Write(Job),
    /// Commit what came before, close the connection, and stop.
    Close(oneshot::Sender<()>),
}

/// One caller's write: statements that stand or fall together, and where to say which.
pub struct Job {
    statements: Vec<Statement>,
    done: oneshot::Sender<Result<(), DbErr>>,
}

/// Writes taken into one transaction at most; more wait for the next.
const MAX_GROUP: usize = 256;
/// Log frames (pages) after which the writer checkpoints: SQLite's own default.
const CHECKPOINT_FRAMES: i32 = 1000;
/// The committing connection's page cache (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

impl Writer {
    /// The writer for `db`: a committing thread over the same file on SQLite, `db` otherwise.
    pub fn for_pool(db: &DatabaseConnection, busy_timeout: Duration) -> Result<Self, DbErr> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return Ok(Writer::Pool(db.clone()));
        }
        let options = db.get_sqlite_connection_pool().connect_options();
        let path = options.get_filename();
        let conn = open(path, busy_timeout).map_err(write_err)?;
        // This connection checkpoints between groups, never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(write_err)?;
        conn.wal_hook(Some(note_log_frames));
        let (queue, messages) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || commit_loop(conn, &messages))
            .map_err(write_err)?;
        Ok(Writer::Sqlite(queue))
    }

    pub fn backend(&self) -> DbBackend {
        match self {
            Writer::Pool(db) => db.get_database_backend(),
            Writer::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    /// Runs `statements` as one all-or-nothing write; `Ok` once it is committed and durable.
    pub async fn write(&self, statements: Vec<Statement>) -> Result<(), DbErr> {
        match self {
            Writer::Pool(db) => {
                let tx = crate::db::begin_write(db).await?;
                for stmt in statements {
                    tx.execute_raw(stmt).await?;
                }
                tx.commit().await
            }
            Writer::Sqlite(queue) => {
                let (done, outcome) = oneshot::channel();
                queue
                    .send(Message::Write(Job { statements, done }))
                    .map_err(|_| write_err("the writer has stopped"))?;
                outcome
                    .await
                    .map_err(|_| write_err("the writer dropped a write"))?
            }
        }
    }

    /// Waits for every write handed in so far to be committed, then closes the committing
    /// thread's connection; later writes are refused. For shutdown.
    pub async fn close(&self) {
        if let Writer::Sqlite(queue) = self {
            let (done, closed) = oneshot::channel();
            if queue.send(Message::Close(done)).is_ok() {
                let _ = closed.await;
            }
        }
    }
}

fn open(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    // Never created here: the pool has made the file and run the migrations.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // As the pool's connections (`db::connect`): the 201 of a note is a promise of durability.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "secure_delete", true)?;
    // The notes' B-trees stay in memory between groups instead of being read again.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    Ok(conn)
}

/// Takes the waiting writes, commits them together, answers each; until told to close or
/// every sender is gone, and then closes the connection.
fn commit_loop(conn: Connection, messages: &mpsc::Receiver<Message>) {
    let mut closing = None;
    while closing.is_none() {
        let Ok(first) = messages.recv() else { break };
        let mut group = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write(job) => group.push(job),
                Message::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if group.len() < MAX_GROUP {
                next = messages.try_recv().ok();
            }
        }
        if !group.is_empty() {
            commit_group(&conn, group);
            checkpoint_if_due(&conn);
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the note writer's connection");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

thread_local! {
    /// Frames in the write-ahead log after this thread's committing connection last committed.
    /// SQLite's WAL hook reports them, on the committing thread; each writer has a thread of
    /// its own, so several writers in one process (the tests) keep separate counts.
    static LOG_FRAMES: Cell<i32> = const { Cell::new(0) };
}

fn note_log_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_FRAMES.set(frames);
    Ok(())
}

/// Copies the log into the database file once it holds `CHECKPOINT_FRAMES`, as SQLite's own
/// automatic checkpoint would, but after the group has been answered instead of inside its
/// commit: SQLite checkpoints inside whichever commit crosses the mark, and every note of that
/// group waited for the copy and its fsync. Right after a commit nothing else is writing, so
/// the copy is complete and the next group starts the log again from its beginning: the log
/// stays at about `CHECKPOINT_FRAMES` pages however long a burst of notes lasts. (A checkpoint
/// running beside the writer on a thread of its own never catches up with it, and the log grew
/// by hundreds of megabytes in the bench's four seconds of notes.)
fn checkpoint_if_due(conn: &Connection) {
    if LOG_FRAMES.get() < CHECKPOINT_FRAMES {
        return;
    }
    match control_row(conn, "PRAGMA wal_checkpoint(PASSIVE)") {
        Ok(()) => LOG_FRAMES.set(0),
        Err(e) => tracing::warn!(error = %e, "checkpointing the write-ahead log"),
    }
}

fn commit_group(conn: &Connection, group: Vec<Job>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let why = e.to_string();
        for job in group {
            let _ = job.done.send(Err(write_err(&why)));
        }
        return;
    }
    // A savepoint that cannot be released or rolled back leaves the transaction in a state
    // nobody can vouch for: then the whole group is rolled back and every write refused.
    let mut sound = Ok(());
    let mut outcomes = Vec::with_capacity(group.len());
    for job in &group {
        if let Err(e) = control(conn, "SAVEPOINT job") {
            sound = Err(e.to_string());
            break;
        }
        let outcome = run(conn, &job.statements);
        let closed = match outcome {
            Ok(()) => control(conn, "RELEASE job"),
            Err(_) => control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job")),
        };
        if let Err(e) = closed {
            sound = Err(e.to_string());
            break;
        }
        outcomes.push(outcome);
    }
    let committed = sound.and_then(|()| control(conn, "COMMIT").map_err(|e| e.to_string()));
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcomes.resize_with(group.len(), || Ok(()));
    for (job, outcome) in group.into_iter().zip(outcomes) {
        let outcome = match &committed {
            Ok(()) => outcome,
            Err(why) => Err(write_err(why)),
        };
        // A caller that went away (its request was cancelled) needs no answer; its write
        // stands, as a committed write would on the pool.
        let _ = job.done.send(outcome);
    }
}

/// A transaction-control statement, prepared once per connection (these run several times
/// per note).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// A pragma that answers with a row, which is read and dropped.
fn control_row(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.query_row([], |_| Ok(()))
}

fn run(conn: &Connection, statements: &[Statement]) -> Result<(), DbErr> {
    for stmt in statements {
        let mut prepared = conn.prepare_cached(&stmt.sql).map_err(write_err)?;
        super::reader::bind_all(&mut prepared, stmt)?;
        prepared.raw_execute().map_err(write_err)?;
    }
    Ok(())
}

fn write_err(err: impl std::fmt::Display) -> DbErr {
    DbErr::Exec(RuntimeErr::Internal(format!("grouped SQLite write: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{dialogue, round};
    use chrono::{DateTime, NaiveDate, Utc};
    use sea_orm::{ActiveModelTrait, EntityTrait, QueryTrait, Set, TryIntoModel};

    fn insert(sql: &str, id: &str) -> Statement {
        Statement::from_sql_and_values(DbBackend::Sqlite, sql, [id.into()])
    }

    fn job(statements: Vec<Statement>) -> (Job, oneshot::Receiver<Result<(), DbErr>>) {
        let (done, outcome) = oneshot::channel();
        (Job { statements, done }, outcome)
    }

    fn scratch() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scratch.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE p (id TEXT PRIMARY KEY);
                 CREATE TABLE c (id TEXT PRIMARY KEY,
                   p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .unwrap();
        let conn = open(&path, Duration::from_secs(5)).unwrap();
        (dir, conn)
    }

    fn ids(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("SELECT id FROM {table} ORDER BY id"))
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// In one group, a write that fails is rolled back alone, all of it, and told so; the
    /// writes before and after it commit and are told so.
    #[test]
    fn a_failing_write_fails_alone_and_whole() {
        let (_dir, conn) = scratch();
        conn.execute_batch("INSERT INTO p VALUES ('taken')")
            .unwrap();
        let (a, a_out) = job(vec![insert("INSERT INTO p VALUES (?)", "a")]);
        let (b, b_out) = job(vec![
            insert("INSERT INTO p VALUES (?)", "b"),
            insert("INSERT INTO p VALUES (?)", "taken"),
        ]);
        let (c, c_out) = job(vec![insert("INSERT INTO p VALUES (?)", "c")]);
        commit_group(&conn, vec![a, b, c]);
        assert!(a_out.blocking_recv().unwrap().is_ok());
        assert!(b_out.blocking_recv().unwrap().is_err());
        assert!(c_out.blocking_recv().unwrap().is_ok());
        assert_eq!(
            ids(&conn, "p"),
            ["a", "c", "taken"],
            "b's first row went too"
        );
        assert!(conn.is_autocommit(), "the group's transaction is closed");
    }

    /// When the commit itself fails, no write of the group is stored and every one hears it.
    #[test]
    fn a_failed_commit_fails_every_write_of_the_group() {
        let (_dir, conn) = scratch();
        let (a, a_out) = job(vec![insert("INSERT INTO p VALUES (?)", "a")]);
        // A deferred foreign key is checked at COMMIT: the statement passes, the commit fails.
        let (b, b_out) = job(vec![Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO c VALUES (?, ?)",
            ["orphan".into(), "nobody".into()],
        )]);
        commit_group(&conn, vec![a, b]);
        assert!(a_out.blocking_recv().unwrap().is_err());
        assert!(b_out.blocking_recv().unwrap().is_err());
        assert!(ids(&conn, "p").is_empty());
        assert!(ids(&conn, "c").is_empty());
        assert!(conn.is_autocommit(), "rolled back");
        // The writer goes on: the next group commits.
        let (d, d_out) = job(vec![insert("INSERT INTO p VALUES (?)", "d")]);
        commit_group(&conn, vec![d]);
        assert!(d_out.blocking_recv().unwrap().is_ok());
        assert_eq!(ids(&conn, "p"), ["d"]);
    }

    /// However many notes arrive, the log is copied into the database file and started again
    /// from its beginning: it stays near `CHECKPOINT_FRAMES` pages, and what was written
    /// reaches the database file.
    #[tokio::test]
    async fn the_log_stays_bounded_and_reaches_the_database_file() {
        let (_dir, db) = crate::db::scratch_database().await;
        let file = db
            .get_sqlite_connection_pool()
            .connect_options()
            .get_filename()
            .to_owned();
        let log = file.with_extension("db-wal");
        let writer = Writer::for_pool(&db, Duration::from_secs(5)).unwrap();
        let canary = "checkpointed-canary-5f0c";
        // Each write is a group of its own: about two pages a commit, some 6,000 in all.
        for n in 0..3000 {
            let stmt = Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO dialogues (id, name, format, parity_tolerance, rule, created_at, \
                 updated_at) VALUES (?, ?, 'bilateral', 0, 'chatham_house', '2026-01-01T00:00:00Z', \
                 '2026-01-01T00:00:00Z')",
                [format!("d{n:04}").into(), format!("{canary} {n}").into()],
            );
            writer.write(vec![stmt]).await.unwrap();
        }
        let page = 4096 + 24;
        let size = std::fs::metadata(&log).unwrap().len();
        assert!(
            size < 2 * CHECKPOINT_FRAMES as u64 * page,
            "the log grew to {size} bytes"
        );
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "nothing reached the database file"
        );
        writer.close().await;
    }

    /// Rows the grouped writer stores read back through the pool as the pool would have
    /// stored them: dates, timestamps to the microsecond, integers, NULLs; and concurrent
    /// writes all land.
    #[tokio::test]
    async fn grouped_writes_read_back_through_the_pool_as_written() {
        let (_dir, db) = crate::db::scratch_database().await;
        let writer = Writer::for_pool(&db, Duration::from_secs(5)).unwrap();
        assert!(matches!(writer, Writer::Sqlite(_)));
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let d = dialogue::ActiveModel {
            id: Set("d1".into()),
            name: Set("Neemrana".into()),
            description: Set(None),
            format: Set("bilateral".into()),
            parity_tolerance: Set(1),
            rule: Set("chatham_house".into()),
            created_at: Set(at("2026-03-01T10:00:00.123456Z")),
            updated_at: Set(at("2026-03-02T23:59:59Z")),
        };
        let rounds: Vec<round::ActiveModel> = (1..=40)
            .map(|n| round::ActiveModel {
                id: Set(format!("r{n:02}")),
                dialogue_id: Set("d1".into()),
                sequence: Set(n),
                title: Set(format!("Round {n}")),
                venue_name: Set(None),
                venue_city: Set(Some("Neemrana".into())),
                venue_country: Set(None),
                timezone: Set("Asia/Kolkata".into()),
                starts_on: Set(NaiveDate::from_ymd_opt(2026, 3, 14).unwrap()),
                ends_on: Set(NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()),
                status: Set("draft".into()),
                rule: Set("chatham_house".into()),
                created_at: Set(at("2026-03-01T10:00:00.000001Z")),
                updated_at: Set(at("2026-03-01T10:00:00Z")),
                guard_epoch: Set(i64::from(n) << 33),
                agenda_epoch: Set(-i64::from(n)),
            })
            .collect();
        writer
            .write(vec![
                dialogue::Entity::insert(d.clone()).build(DbBackend::Sqlite),
            ])
            .await
            .unwrap();
        let writes = rounds.iter().map(|r| {
            let stmt = round::Entity::insert(r.clone()).build(DbBackend::Sqlite);
            writer.write(vec![stmt])
        });
        for outcome in futures_util::future::join_all(writes).await {
            outcome.unwrap();
        }
        let stored = dialogue::Entity::find_by_id("d1").one(&db).await.unwrap();
        assert_eq!(stored, Some(d.try_into_model().unwrap()));
        let stored = round::Entity::find().all(&db).await.unwrap();
        let expected: Vec<round::Model> = rounds
            .into_iter()
            .map(|r| r.try_into_model().unwrap())
            .collect();
        assert_eq!(stored, expected);
        // An update through the pool still sees them as its own.
        let mut first = round::ActiveModel::from(expected[0].clone());
        first.title = Set("Round one".into());
        first.update(&db).await.unwrap();

        // Closing waits for what was handed in, and refuses what comes after.
        let last = round::Entity::insert(round::ActiveModel {
            id: Set("r41".into()),
            sequence: Set(41),
            ..round::ActiveModel::from(expected[1].clone())
        })
        .build(DbBackend::Sqlite);
        let (written, ()) = tokio::join!(writer.write(vec![last.clone()]), writer.close());
        written.unwrap();
        assert!(
            round::Entity::find_by_id("r41")
                .one(&db)
                .await
                .unwrap()
                .is_some()
        );
        assert!(writer.write(vec![last]).await.is_err(), "closed");
    }
}
