//! Group commit for the short, independent writes that arrive many at a time: notes.
//!
//! On SQLite every commit is a WAL append and, for a durable commit, an fsync, and the file has
//! one writer at a time. Posting a note alone is a handful of microseconds of SQLite work; the
//! transaction around it (the hand-off to sqlx's connection thread for `BEGIN`, `INSERT` and
//! `COMMIT`, the fsync, the wake-ups) is nearly all of its cost. [`Writer`] hands such writes
//! to one thread of its own, which takes every write waiting when it becomes free and commits
//! them in one transaction: one `BEGIN IMMEDIATE`, one log append, however many notes.
//!
//! Each write keeps its own outcome. A write of several statements runs inside a savepoint of
//! the shared transaction, and a single statement is undone alone by SQLite if it fails, so a
//! write that fails (a constraint, say) is rolled back alone and reported to its caller alone,
//! and the others commit. If the commit fails, every write in it hears the error and none is
//! stored.
//!
//! A caller hears `Ok` only once the commit that holds its write is durable, but the committing
//! thread does not wait for the disk itself: a second thread makes the log durable
//! (`fdatasync` of the `-wal` file) after one or more commits and only then answers their
//! writes, while the committing thread goes on with the next group. The disk's flush time and
//! the next group's SQLite work overlap instead of adding up.
//! What the flush covers is exactly what `synchronous = FULL` would have flushed at each of
//! those commits: the log up to their commit frames. A crash before it loses only writes that
//! nobody was told were stored; SQLite's recovery drops a log tail that is not whole. (Between
//! its commit and the flush only its own writer could read a new note, and any commit through
//! the pool, a release say, flushes the log up to itself and so the note with it.)
//! If a flush fails, its writes hear the error and the writer refuses every later write: after
//! a failed fsync the kernel may have dropped the pages it could not write, and nothing written
//! since can be vouched for (PostgreSQL stops for the same reason). `/readyz` then reports the
//! service unavailable until it is restarted.
//!
//! The thread's connection is set up as the pool's are (WAL, foreign keys, `secure_delete`,
//! `busy_timeout`, QPSG), except for `synchronous = NORMAL` (the flushing thread does the
//! commit's fsync) and that the log is copied into the database by a third thread and, for
//! what is left, between groups, never inside a commit ([`checkpoint_if_due`]). It takes the
//! write lock at `BEGIN` like every write transaction (`db::begin_write`), so it queues behind
//! the pool's writers and they behind it, and neither sees "database is locked". On
//! PostgreSQL, which commits concurrent transactions in groups itself, `Writer` is the pool:
//! each write is its own transaction.
//!
//! The thread's commits are not counted by `db::commits` (its connection opens the file through
//! plain `unix`), so values kept until the next counted commit, such as a round request's seat
//! (`access::Seats`), outlive them. That is right only because a note is all it stores: a write
//! to anything else belongs on the pool.

use std::cell::Cell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};
use tokio::sync::oneshot;

/// Where grouped writes go: one committing thread on SQLite, the pool on PostgreSQL.
#[derive(Clone)]
pub enum Writer {
    Pool(DatabaseConnection),
    Sqlite {
        queue: mpsc::Sender<Message>,
        /// Why the writer stopped taking writes, once a flush of the log has failed.
        failure: Arc<OnceLock<String>>,
    },
}

/// What the committing thread receives.
pub enum Message {
    Write(Job),
    /// Commit what came before, make it durable, close the connection, and stop.
    Close(oneshot::Sender<()>),
}

/// One caller's write: statements that stand or fall together, and where to say which.
pub struct Job {
    statements: Vec<Statement>,
    done: oneshot::Sender<Result<(), DbErr>>,
}

/// A write's outcome, and where it goes once the log holding it is durable.
type Answer = (oneshot::Sender<Result<(), DbErr>>, Result<(), DbErr>);

/// What the flushing thread receives from the committing thread.
enum Flush {
    /// Answers of a committed group, given once the log is on disk.
    Committed(Vec<Answer>),
    /// Flush what came before, then say so and stop.
    Close(mpsc::Sender<()>),
}

/// Writes taken into one transaction at most; more wait for the next.
const MAX_GROUP: usize = 256;
/// Log frames (pages) after which the writer checkpoints: 16 MiB of log. A page that notes
/// change again and again (the B-trees' inner pages, a round's part of the index) is copied
/// into the database once per checkpoint however often it was logged, so a longer log copies
/// fewer pages per note; SQLite's default of 1,000 copied nearly three times as many.
const CHECKPOINT_FRAMES: i32 = 4000;
/// Log frames after which the writer nudges the copying thread again (see
/// [`checkpoint_if_due`]): once per checkpoint, half way. Every pass of the copying thread
/// ends with an fsync of the database file, and the disk serves the log's flushes behind it:
/// with a nudge every 500 frames a flush of the log took 0.4 to 0.85 ms in the bench, with one
/// every 2,000 it took 0.3 to 0.4 ms, and a pass over more frames copies a page changed
/// twice only once. The writer's own copy at the mark is longer for it (17 to 22% of the
/// writer's time instead of 7 to 13%); still, over single bench runs (most of them with the
/// writer instrumented), notes posted per `/healthz` request averaged 0.177 with a nudge every
/// 500 frames (8 runs) and 0.199 with one every 2,000 (6 runs).
const COPY_FRAMES: i32 = 2000;
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
        // The flushing thread makes each commit durable; this connection only appends.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(write_err)?;
        // This connection checkpoints between groups, never inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(write_err)?;
        conn.wal_hook(Some(note_log_frames));
        let failure = Arc::new(OnceLock::new());
        let (queue, messages) = mpsc::channel();
        let (flush, flushes) = mpsc::channel();
        let log = log_path(path);
        let flushed = Arc::clone(&failure);
        std::thread::Builder::new()
            .name("sqlite-flush".into())
            .spawn(move || flush_loop(&log, &flushes, &flushed))
            .map_err(write_err)?;
        // It never commits, so SQLite never checkpoints on its own on this connection either.
        let copier = open(path, busy_timeout).map_err(write_err)?;
        // At most one nudge waits: a pass that starts later copies everything logged by then.
        let (nudge, nudges) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || copy_loop(copier, &nudges))
            .map_err(write_err)?;
        let refused = Arc::clone(&failure);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || commit_loop(conn, &messages, &flush, &nudge, &refused))
            .map_err(write_err)?;
        Ok(Writer::Sqlite { queue, failure })
    }

    pub fn backend(&self) -> DbBackend {
        match self {
            Writer::Pool(db) => db.get_database_backend(),
            Writer::Sqlite { .. } => DbBackend::Sqlite,
        }
    }

    /// Why the writer refuses writes, if it does: a flush of the log failed.
    pub fn failure(&self) -> Option<&str> {
        match self {
            Writer::Pool(_) => None,
            Writer::Sqlite { failure, .. } => failure.get().map(String::as_str),
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
            Writer::Sqlite { queue, .. } => {
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

    /// Waits for every write handed in so far to be committed and durable, then closes the
    /// committing thread's connection; later writes are refused. For shutdown.
    pub async fn close(&self) {
        if let Writer::Sqlite { queue, .. } = self {
            let (done, closed) = oneshot::channel();
            if queue.send(Message::Close(done)).is_ok() {
                let _ = closed.await;
            }
        }
    }
}

/// The write-ahead log of the database at `path`: SQLite names it after the database file.
fn log_path(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    PathBuf::from(log)
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
    // As the pool's connections (`db::connect`).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "secure_delete", true)?;
    // The notes' B-trees stay in memory between groups instead of being read again.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    Ok(conn)
}

/// Takes the waiting writes, commits them together, hands their answers to the flushing
/// thread; until told to close or every sender is gone, and then closes the connection.
fn commit_loop(
    conn: Connection,
    messages: &mpsc::Receiver<Message>,
    flush: &mpsc::Sender<Flush>,
    nudge: &mpsc::SyncSender<()>,
    failure: &OnceLock<String>,
) {
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
        if group.is_empty() {
            continue;
        }
        if let Some(why) = failure.get() {
            answer(refused(callers(group), why));
            continue;
        }
        match commit_group(&conn, group) {
            Committed::Yes(answers) => {
                if let Err(mpsc::SendError(Flush::Committed(answers))) =
                    flush.send(Flush::Committed(answers))
                {
                    answer(refused(
                        answered(answers),
                        "the log's flushing thread has stopped",
                    ));
                }
                checkpoint_if_due(&conn, nudge);
            }
            Committed::No(answers) => answer(answers),
        }
    }
    // Every commit is flushed and answered before the connection closes.
    let (flushed, all_flushed) = mpsc::channel();
    if flush.send(Flush::Close(flushed)).is_ok() {
        let _ = all_flushed.recv();
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the note writer's connection");
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Makes the log durable after one or more commits, then answers their writes.
fn flush_loop(log: &Path, flushes: &mpsc::Receiver<Flush>, failure: &OnceLock<String>) {
    // Opened at the first flush: by then a commit has made the log.
    let mut file = None;
    while let Ok(first) = flushes.recv() {
        let mut answers = Vec::new();
        let mut closing = None;
        let mut next = Some(first);
        while let Some(flush) = next.take() {
            match flush {
                Flush::Committed(more) => answers.extend(more),
                Flush::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            next = flushes.try_recv().ok();
        }
        if !answers.is_empty() {
            match sync_log(log, &mut file) {
                Ok(()) => answer(answers),
                Err(e) => {
                    let why = format!("the write-ahead log could not be made durable: {e}");
                    tracing::error!(error = %e, "flushing the write-ahead log failed; the note writer refuses further writes");
                    let _ = failure.set(why.clone());
                    answer(refused(answered(answers), &why));
                }
            }
        }
        if let Some(done) = closing {
            let _ = done.send(());
            break;
        }
    }
}

/// `fdatasync` of the log: the kernel flushes the file's pages whichever descriptor wrote them.
fn sync_log(log: &Path, file: &mut Option<File>) -> std::io::Result<()> {
    let file = match file {
        Some(file) => file,
        None => file.insert(File::open(log)?),
    };
    file.sync_data()
}

fn answer(answers: Vec<Answer>) {
    for (done, outcome) in answers {
        // A caller that went away (its request was cancelled) needs no answer; its write
        // stands, as a committed write would on the pool.
        let _ = done.send(outcome);
    }
}

/// An answer of `why` for each caller, whatever its write's own outcome was.
fn refused(
    callers: impl IntoIterator<Item = oneshot::Sender<Result<(), DbErr>>>,
    why: &str,
) -> Vec<Answer> {
    callers
        .into_iter()
        .map(|done| (done, Err(write_err(why))))
        .collect()
}

fn callers(group: Vec<Job>) -> impl Iterator<Item = oneshot::Sender<Result<(), DbErr>>> {
    group.into_iter().map(|job| job.done)
}

/// The callers of `answers`, their outcomes dropped.
fn answered(answers: Vec<Answer>) -> impl Iterator<Item = oneshot::Sender<Result<(), DbErr>>> {
    answers.into_iter().map(|(done, _)| done)
}

thread_local! {
    /// Frames in the write-ahead log after this thread's committing connection last committed.
    /// SQLite's WAL hook reports them, on the committing thread; each writer has a thread of
    /// its own, so several writers in one process (the tests) keep separate counts.
    static LOG_FRAMES: Cell<i32> = const { Cell::new(0) };
    /// `LOG_FRAMES` when the writer last nudged the copying thread.
    static NUDGED_AT: Cell<i32> = const { Cell::new(0) };
}

fn note_log_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_FRAMES.set(frames);
    Ok(())
}

/// Keeps the log short without making writes wait for the copy into the database file.
///
/// SQLite would checkpoint inside whichever commit crosses its mark, and every note of that
/// group would wait for the copy and its fsync. Here the copying thread ([`copy_loop`]) is
/// nudged every `COPY_FRAMES` frames and copies the log beside the writer, and once the log
/// holds `CHECKPOINT_FRAMES` the writer copies what is left itself, between groups: right
/// after a commit nothing else is writing, so that copy is complete and the next group starts
/// the log again from its beginning. The log stays at about `CHECKPOINT_FRAMES` pages however
/// long a burst of notes lasts, and the writer copies only what the copying thread has not
/// reached. (The copying thread alone never catches up with a busy writer: the log cannot
/// start again while frames are being added behind the copy, and it grew by hundreds of
/// megabytes in the bench's four seconds of notes. The writer alone spent 15% of the time
/// copying, and every client waited meanwhile.) Either copy flushes the log itself before
/// copying from it (`synchronous = NORMAL` does that much).
fn checkpoint_if_due(conn: &Connection, nudge: &mpsc::SyncSender<()>) {
    let frames = LOG_FRAMES.get();
    if frames < CHECKPOINT_FRAMES {
        if frames >= NUDGED_AT.get() + COPY_FRAMES {
            // Full: a nudge is waiting already. Gone: the copying thread has stopped, and
            // the writer's own copies still keep the log bounded.
            let _ = nudge.try_send(());
            NUDGED_AT.set(frames);
        }
        return;
    }
    match checkpoint(conn) {
        // The copying thread was in the middle of a pass: try again after the next group.
        Ok(Checkpoint::Busy) => {}
        Ok(Checkpoint::Done) => {
            LOG_FRAMES.set(0);
            NUDGED_AT.set(0);
        }
        Err(e) => tracing::warn!(error = %e, "checkpointing the write-ahead log"),
    }
}

/// Copies the log into the database file whenever nudged, until the writer has stopped.
fn copy_loop(conn: Connection, nudges: &mpsc::Receiver<()>) {
    while nudges.recv().is_ok() {
        if let Err(e) = checkpoint(&conn) {
            tracing::warn!(error = %e, "checkpointing the write-ahead log");
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the checkpointing connection");
    }
}

enum Checkpoint {
    /// Another connection was checkpointing; nothing was copied.
    Busy,
    /// The log was copied as far as readers allowed.
    Done,
}

/// One passive checkpoint: copies every frame no reader still needs; waits for nobody.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Checkpoint> {
    // The row is (busy, frames in the log, frames copied); busy when another connection holds
    // the checkpoint lock.
    let busy: i64 = conn
        .prepare_cached("PRAGMA wal_checkpoint(PASSIVE)")?
        .query_row([], |row| row.get(0))?;
    Ok(if busy == 0 {
        Checkpoint::Done
    } else {
        Checkpoint::Busy
    })
}

/// A group's outcome: committed (its answers wait for the log to be durable), or not (every
/// write hears the error now).
enum Committed {
    Yes(Vec<Answer>),
    No(Vec<Answer>),
}

fn commit_group(conn: &Connection, group: Vec<Job>) -> Committed {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        return Committed::No(refused(callers(group), &e.to_string()));
    }
    // A savepoint that cannot be released or rolled back, or an error after which SQLite rolled
    // back the whole transaction itself (a full disk, say), leaves a transaction nobody can
    // vouch for: then the whole group is rolled back and every write refused.
    let mut sound = Ok(());
    let mut outcomes = Vec::with_capacity(group.len());
    for job in &group {
        let outcome = match &job.statements[..] {
            // A statement that fails is undone alone, all of it (SQLite's statement journal):
            // one statement needs no savepoint of its own. A new note is one.
            [_] => Ok(run(conn, &job.statements)),
            statements => in_savepoint(conn, statements),
        };
        let outcome = match outcome {
            Ok(outcome) if !conn.is_autocommit() => Ok(outcome),
            Ok(_) => Err("the group's transaction was rolled back".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(outcome) => outcomes.push(outcome),
            Err(why) => {
                sound = Err(why);
                break;
            }
        }
    }
    let committed = sound.and_then(|()| control(conn, "COMMIT").map_err(|e| e.to_string()));
    if let Err(why) = committed {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Committed::No(refused(callers(group), &why));
    }
    Committed::Yes(callers(group).zip(outcomes).collect())
}

/// Runs `statements` inside a savepoint: all of them, or none if one fails. The outer `Err` is
/// a savepoint that could not be opened or closed.
fn in_savepoint(
    conn: &Connection,
    statements: &[Statement],
) -> rusqlite::Result<Result<(), DbErr>> {
    control(conn, "SAVEPOINT job")?;
    let outcome = run(conn, statements);
    match outcome {
        Ok(()) => control(conn, "RELEASE job")?,
        Err(_) => {
            control(conn, "ROLLBACK TO job")?;
            control(conn, "RELEASE job")?;
        }
    }
    Ok(outcome)
}

/// A transaction-control statement, prepared once per connection (these run at every group,
/// and around every write of several statements).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
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

    /// Answers a group's writes at once, as the flushing thread would after its flush.
    fn settle(committed: Committed) {
        match committed {
            Committed::Yes(answers) | Committed::No(answers) => answer(answers),
        }
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
        // A write of one statement needs no savepoint, and fails alone as well.
        let (d, d_out) = job(vec![insert("INSERT INTO p VALUES (?)", "a")]);
        settle(commit_group(&conn, vec![a, b, c, d]));
        assert!(a_out.blocking_recv().unwrap().is_ok());
        assert!(b_out.blocking_recv().unwrap().is_err());
        assert!(c_out.blocking_recv().unwrap().is_ok());
        assert!(d_out.blocking_recv().unwrap().is_err());
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
        let committed = commit_group(&conn, vec![a, b]);
        assert!(
            matches!(committed, Committed::No(_)),
            "the group did not commit"
        );
        settle(committed);
        assert!(a_out.blocking_recv().unwrap().is_err());
        assert!(b_out.blocking_recv().unwrap().is_err());
        assert!(ids(&conn, "p").is_empty());
        assert!(ids(&conn, "c").is_empty());
        assert!(conn.is_autocommit(), "rolled back");
        // The writer goes on: the next group commits.
        let (d, d_out) = job(vec![insert("INSERT INTO p VALUES (?)", "d")]);
        settle(commit_group(&conn, vec![d]));
        assert!(d_out.blocking_recv().unwrap().is_ok());
        assert_eq!(ids(&conn, "p"), ["d"]);
    }

    /// A flush that fails refuses the writes it was to make durable, and from then on the
    /// writer refuses every write and says why.
    #[test]
    fn a_failed_flush_refuses_its_writes_and_every_later_one() {
        let (dir, conn) = scratch();
        let failure = Arc::new(OnceLock::new());
        let (flush, flushes) = mpsc::channel();
        let flushed = Arc::clone(&failure);
        // A log that cannot be opened stands for a disk that does not take the flush.
        let missing = dir.path().join("gone").join("scratch.db-wal");
        let flusher = std::thread::spawn(move || flush_loop(&missing, &flushes, &flushed));
        let (a, a_out) = job(vec![insert("INSERT INTO p VALUES (?)", "a")]);
        let Committed::Yes(answers) = commit_group(&conn, vec![a]) else {
            panic!("the commit itself went through");
        };
        flush.send(Flush::Committed(answers)).unwrap();
        let refused = a_out.blocking_recv().unwrap().unwrap_err().to_string();
        assert!(refused.contains("could not be made durable"), "{refused}");
        assert!(failure.get().is_some(), "the failure is kept");

        let (messages_in, messages) = mpsc::channel();
        let refusing = Arc::clone(&failure);
        // No copying thread: the writer's nudges go nowhere.
        let (nudge, _) = mpsc::sync_channel(1);
        let writer = std::thread::spawn(move || {
            commit_loop(conn, &messages, &flush, &nudge, &refusing);
        });
        let (b, b_out) = job(vec![insert("INSERT INTO p VALUES (?)", "b")]);
        messages_in.send(Message::Write(b)).unwrap();
        let refused = b_out.blocking_recv().unwrap().unwrap_err().to_string();
        assert!(refused.contains("could not be made durable"), "{refused}");
        let (closed, done) = oneshot::channel();
        messages_in.send(Message::Close(closed)).unwrap();
        done.blocking_recv().unwrap();
        writer.join().unwrap();
        flusher.join().unwrap();
        let conn = Connection::open(dir.path().join("scratch.db")).unwrap();
        assert_eq!(ids(&conn, "p"), ["a"], "b was never written");
    }

    /// The database file of `db`.
    fn database_file(db: &DatabaseConnection) -> PathBuf {
        db.get_sqlite_connection_pool()
            .connect_options()
            .get_filename()
            .to_owned()
    }

    /// Writes `batches` of eight dialogues at a time (so that they commit in groups), each
    /// named after `canary` and carrying a description of three pages.
    async fn write_dialogues(writer: &Writer, canary: &str, batches: usize) {
        let description = "x".repeat(3 * 4096);
        for batch in 0..batches {
            let writes = (0..8).map(|k| {
                let n = batch * 8 + k;
                writer.write(vec![Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "INSERT INTO dialogues (id, name, description, format, parity_tolerance, rule, \
                     created_at, updated_at) VALUES (?, ?, ?, 'bilateral', 0, 'chatham_house', \
                     '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                    [
                        format!("d{n:04}").into(),
                        format!("{canary} {n}").into(),
                        description.clone().into(),
                    ],
                )])
            });
            for outcome in futures_util::future::join_all(writes).await {
                outcome.unwrap();
            }
        }
    }

    fn holds(file: &Path, canary: &str) -> bool {
        let bytes = std::fs::read(file).unwrap();
        bytes.windows(canary.len()).any(|w| w == canary.as_bytes())
    }

    /// Bytes of a log of `frames` pages.
    fn log_bytes(frames: i32) -> u64 {
        frames as u64 * (4096 + 24)
    }

    /// However many notes arrive, the log is copied into the database file and started again
    /// from its beginning: it stays near `CHECKPOINT_FRAMES` pages, and what was written
    /// reaches the database file.
    #[tokio::test]
    async fn the_log_stays_bounded_and_reaches_the_database_file() {
        let (_dir, db) = crate::db::scratch_database().await;
        let file = database_file(&db);
        let writer = Writer::for_pool(&db, Duration::from_secs(5)).unwrap();
        let canary = "checkpointed-canary-5f0c";
        // Some 12,000 pages of log in all, three times the checkpoint mark.
        write_dialogues(&writer, canary, 375).await;
        let size = std::fs::metadata(file.with_extension("db-wal"))
            .unwrap()
            .len();
        assert!(
            size < log_bytes(2 * CHECKPOINT_FRAMES),
            "the log grew to {size} bytes"
        );
        assert!(holds(&file, canary), "nothing reached the database file");
        writer.close().await;
    }

    /// The copying thread moves the log into the database file while the log is still well
    /// below the writer's own checkpoint mark.
    #[tokio::test]
    async fn the_copying_thread_copies_the_log_before_the_mark() {
        let (_dir, db) = crate::db::scratch_database().await;
        let file = database_file(&db);
        let writer = Writer::for_pool(&db, Duration::from_secs(5)).unwrap();
        let canary = "copied-canary-81d2";
        // Some 3,000 pages of log: past the nudge at `COPY_FRAMES`, short of
        // `CHECKPOINT_FRAMES`.
        write_dialogues(&writer, canary, 100).await;
        // The log never reached the mark, so the writer never copied it itself.
        let size = std::fs::metadata(file.with_extension("db-wal"))
            .unwrap()
            .len();
        assert!(
            size < log_bytes(CHECKPOINT_FRAMES),
            "the log grew to {size} bytes"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !holds(&file, canary) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            holds(&file, canary),
            "nothing reached the database file before the mark"
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
        assert!(matches!(writer, Writer::Sqlite { .. }));
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
