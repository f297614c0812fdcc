//! A count of the commits made through the pool to each SQLite file, for values kept between
//! requests that must be dropped as soon as a commit may have changed the rows they came from.
//!
//! What counts. The pool's connections open their files through a thin VFS over SQLite's own
//! `unix` VFS ([`vfs`]) that passes every call through and, each time a connection lets go
//! of the log's write lock, adds one to the count of its file. A connection holds that lock for
//! the whole of a write transaction and lets go of it only after the commit is in the log's
//! index, so once the count has moved, every read that starts afterwards sees the commit. The
//! write lock is also let go of after a rollback and after some checkpoints; counting those too
//! costs a kept value and nothing else.
//!
//! Why the lock and not a hook. SQLite's commit hook runs before the commit is visible, so a
//! read between the hook and the commit would be kept as current; its WAL hook runs only when a
//! statement steps to its end, and a single-row `INSERT … RETURNING` that sqlx stops reading
//! after its row commits in the statement's reset, without the hook.
//!
//! What does not count. The note writer (`db::writer`) and the in-thread reader open their own
//! connections through plain `unix`: notes are all the writer stores, and a note changes no row
//! a kept value comes from. A commit by another process is not counted either, so a kept value
//! also has an age after which it is read again (see `access::Seats`).
//!
//! Which file. Counts are kept by the file's device and inode, so every spelling of a path (a
//! relative one, a symbolic link) finds the same count.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use libsqlite3_sys as ffi;

/// The name the pool's connections give SQLite for this VFS.
const VFS_NAME: &CStr = c"backchannel-counted";

/// The commits counted for one file.
pub type Count = &'static AtomicU64;

/// The count of the file at `path` (the file must exist). Counts live as long as the program:
/// one `AtomicU64` per database file it opens, which is one in service and one per test.
pub fn of(path: &Path) -> std::io::Result<Count> {
    let meta = std::fs::metadata(path)?;
    Ok(count((meta.dev(), meta.ino())))
}

fn count(file: (u64, u64)) -> Count {
    static COUNTS: OnceLock<Mutex<HashMap<(u64, u64), Count>>> = OnceLock::new();
    let mut counts = COUNTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    counts
        .entry(file)
        .or_insert_with(|| Box::leak(Box::new(AtomicU64::new(0))))
}

/// Registers the VFS with SQLite (once; it is not made the default) and returns its name.
pub fn vfs() -> Result<&'static str, String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(register)
        .clone()
        .map(|()| VFS_NAME.to_str().expect("the name is ASCII"))
}

/// SQLite's `unix` VFS, which every call is passed to.
static UNIX: OnceLock<Unix> = OnceLock::new();

struct Unix(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's VFS objects are never freed and are safe to call from any thread.
unsafe impl Send for Unix {}
unsafe impl Sync for Unix {}

/// An open file: SQLite's header, where the counted file's count is, and then `unix`'s own
/// file object, which SQLite sized for us through `szOsFile`.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    count: Option<Count>,
}

// `unix`'s object follows ours at an 8-byte boundary (see [`inner`]).
const _: () = assert!(std::mem::size_of::<File>().is_multiple_of(8));

/// `unix`'s file object inside ours.
///
/// # Safety
/// `file` must be a `File` this VFS opened.
unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: `xOpen` sized the allocation as `File` followed by `unix`'s object, and `File`'s
    // size is a multiple of its 8-byte alignment, so the object starts aligned.
    unsafe { (file as *mut u8).add(std::mem::size_of::<File>()) as *mut ffi::sqlite3_file }
}

/// `unix`'s methods for the file object inside ours.
///
/// # Safety
/// As [`inner`]; the file must be open.
unsafe fn methods(file: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: an open `unix` file's methods are a static table of SQLite's.
    unsafe { &*(*inner(file)).pMethods }
}

fn register() -> Result<(), String> {
    // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns a static object or
    // null. The copy below keeps every `unix` method and its `pAppData` (which `unix` reads
    // back); only the name, the file size and `xOpen` differ. SQLite keeps the pointer it is
    // given for ever, so the copy is leaked.
    unsafe {
        let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
        if unix.is_null() {
            return Err("SQLite has no unix VFS".into());
        }
        if (*unix).iVersion < 1 || (*unix).szOsFile < 0 {
            return Err("SQLite's unix VFS is not one this program knows".into());
        }
        UNIX.get_or_init(|| Unix(unix));
        let mut ours = *unix;
        ours.pNext = std::ptr::null_mut();
        ours.zName = VFS_NAME.as_ptr();
        ours.szOsFile = (*unix).szOsFile + std::mem::size_of::<File>() as c_int;
        ours.xOpen = Some(open);
        let ours = Box::leak(Box::new(ours));
        match ffi::sqlite3_vfs_register(ours, 0) {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(format!("SQLite refused the counted VFS ({rc})")),
        }
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(Unix(unix)) = UNIX.get() else {
        return ffi::SQLITE_ERROR;
    };
    // SAFETY: SQLite passes a zeroed allocation of our `szOsFile` bytes; `unix` opens its own
    // object after our header, and we give SQLite our methods only once `unix` has given its.
    unsafe {
        let ours = file as *mut File;
        (*ours).base.pMethods = std::ptr::null();
        (*ours).count = None;
        let Some(unix_open) = (**unix).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        let rc = unix_open(*unix, name, inner(file), flags, out_flags);
        if (*inner(file)).pMethods.is_null() {
            return rc;
        }
        if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 && !name.is_null() {
            let path = CStr::from_ptr(name as *const c_char).to_bytes();
            let path = Path::new(std::ffi::OsStr::from_bytes(path));
            (*ours).count = of(path).ok();
        }
        (*ours).base.pMethods = &METHODS;
        rc
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// The log's write lock: the first of the WAL index's locks (`WAL_WRITE_LOCK` in sqlite3.c).
const WAL_WRITE_LOCK: c_int = 0;

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    // SAFETY: SQLite calls a file's methods only while it is open, with the file object this
    // VFS opened; the same holds for every method below.
    unsafe {
        let Some(shm_lock) = version(file, 2).and(methods(file).xShmLock) else {
            return ffi::SQLITE_IOERR;
        };
        let rc = shm_lock(inner(file), offset, n, flags);
        let released = flags == ffi::SQLITE_SHM_UNLOCK | ffi::SQLITE_SHM_EXCLUSIVE
            && offset <= WAL_WRITE_LOCK
            && WAL_WRITE_LOCK < offset + n;
        if released && let Some(count) = (*(file as *mut File)).count {
            count.fetch_add(1, Ordering::Release);
        }
        rc
    }
}

/// Methods that only pass the call to `unix`'s: the method's name in SQLite's table, the table
/// version that has it, its arguments after the file, and what to answer if `unix` has none.
macro_rules! forward {
    ($(fn $name:ident = $field:ident since $since:literal ($($arg:ident: $ty:ty),*) -> $ret:ty,
        or $missing:expr;)*) => {$(
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: as `shm_lock`.
            unsafe {
                match version(file, $since).and(methods(file).$field) {
                    Some(method) => method(inner(file) $(, $arg)*),
                    None => $missing,
                }
            }
        }
    )*};
}

forward! {
    fn close = xClose since 1 () -> c_int, or ffi::SQLITE_OK;
    fn read = xRead since 1 (buf: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64)
        -> c_int, or ffi::SQLITE_IOERR_READ;
    fn write = xWrite since 1 (buf: *const c_void, amount: c_int, offset: ffi::sqlite3_int64)
        -> c_int, or ffi::SQLITE_IOERR_WRITE;
    fn truncate = xTruncate since 1 (size: ffi::sqlite3_int64)
        -> c_int, or ffi::SQLITE_IOERR_TRUNCATE;
    fn sync = xSync since 1 (flags: c_int) -> c_int, or ffi::SQLITE_IOERR_FSYNC;
    fn file_size = xFileSize since 1 (size: *mut ffi::sqlite3_int64)
        -> c_int, or ffi::SQLITE_IOERR_FSTAT;
    fn lock = xLock since 1 (level: c_int) -> c_int, or ffi::SQLITE_IOERR_LOCK;
    fn unlock = xUnlock since 1 (level: c_int) -> c_int, or ffi::SQLITE_IOERR_UNLOCK;
    fn check_reserved_lock = xCheckReservedLock since 1 (out: *mut c_int)
        -> c_int, or ffi::SQLITE_IOERR_CHECKRESERVEDLOCK;
    fn file_control = xFileControl since 1 (op: c_int, arg: *mut c_void)
        -> c_int, or ffi::SQLITE_NOTFOUND;
    fn sector_size = xSectorSize since 1 () -> c_int, or 4096;
    fn device_characteristics = xDeviceCharacteristics since 1 () -> c_int, or 0;
    fn shm_map = xShmMap since 2 (page: c_int, page_size: c_int, extend: c_int,
        out: *mut *mut c_void) -> c_int, or ffi::SQLITE_IOERR_SHMMAP;
    fn shm_barrier = xShmBarrier since 2 () -> (), or ();
    fn shm_unmap = xShmUnmap since 2 (delete: c_int) -> c_int, or ffi::SQLITE_OK;
    fn unfetch = xUnfetch since 3 (offset: ffi::sqlite3_int64, page: *mut c_void)
        -> c_int, or ffi::SQLITE_OK;
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: as `shm_lock`; `out` is SQLite's to write a page pointer to.
    unsafe {
        match version(file, 3).and(methods(file).xFetch) {
            Some(fetch) => fetch(inner(file), offset, amount, out),
            None => {
                // No memory map: SQLite reads the page instead.
                *out = std::ptr::null_mut();
                ffi::SQLITE_OK
            }
        }
    }
}

/// `Some` when `unix`'s methods for this file have `version` or later (the later methods are
/// not there to read in an older table).
///
/// # Safety
/// As [`methods`].
unsafe fn version(file: *mut ffi::sqlite3_file, version: c_int) -> Option<()> {
    unsafe { (methods(file).iVersion >= version).then_some(()) }
}

/// The count of the pool's file on SQLite; `None` on PostgreSQL, where nothing counts commits.
pub fn of_pool(db: &sea_orm::DatabaseConnection) -> Option<Count> {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let options = db.get_sqlite_connection_pool().connect_options();
            of(options.get_filename()).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    use super::*;

    fn sql(text: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, text)
    }

    #[tokio::test]
    async fn every_commit_through_the_pool_moves_the_count_and_nothing_else_does() {
        let (_dir, db) = crate::db::scratch_database().await;
        let count = of_pool(&db).expect("an SQLite pool has a count");
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        let now = || count.load(Ordering::Acquire);

        let before = now();
        db.query_all_raw(sql("SELECT * FROM t")).await.unwrap();
        assert_eq!(now(), before, "a read commits nothing");

        // The case SQLite's WAL hook misses: one row read back from an autocommit statement,
        // which then commits when sqlx resets it.
        let row = db
            .query_one_raw(sql("INSERT INTO t (x) VALUES (1) RETURNING x"))
            .await
            .unwrap();
        assert!(row.is_some());
        let after_returning = now();
        assert!(after_returning > before, "an INSERT … RETURNING is counted");

        let txn = crate::db::begin_write(&db).await.unwrap();
        txn.execute_unprepared("UPDATE t SET x = 2").await.unwrap();
        assert_eq!(
            now(),
            after_returning,
            "nothing is counted before the commit"
        );
        txn.commit().await.unwrap();
        let after_commit = now();
        assert!(
            after_commit > after_returning,
            "a transaction's commit is counted"
        );

        let txn = db.begin().await.unwrap();
        let rows = txn
            .query_all_raw(sql("SELECT x FROM t WHERE x = 2"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "the counted commit is visible");
        txn.commit().await.unwrap();

        // A connection of plain `unix`, as the note writer's and the reader's are.
        let path = db
            .get_sqlite_connection_pool()
            .connect_options()
            .get_filename()
            .to_owned();
        let before = now();
        let plain = rusqlite::Connection::open(&path).unwrap();
        plain.execute("INSERT INTO t (x) VALUES (3)", []).unwrap();
        assert_eq!(
            now(),
            before,
            "a connection outside the pool is not counted"
        );
    }

    #[test]
    fn every_spelling_of_a_path_finds_the_same_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.db");
        std::fs::write(&file, b"").unwrap();
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let dotted = dir.path().join(".").join("a.db");
        let count = of(&file).unwrap();
        assert!(std::ptr::eq(count, of(&link).unwrap()));
        assert!(std::ptr::eq(count, of(&dotted).unwrap()));
        let other = dir.path().join("b.db");
        std::fs::write(&other, b"").unwrap();
        assert!(!std::ptr::eq(count, of(&other).unwrap()));
    }
}
