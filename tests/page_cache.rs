//! SQLite's page cache under `db::pcache`, in a process of its own: SQLite takes a page cache
//! only before it is first started, which in the API tests' process has long happened.

use rusqlite::{Connection, params};

/// Bytes of page cache `conn` holds.
fn cache_used(conn: &Connection) -> i64 {
    let (mut used, mut highest) = (0, 0);
    // SAFETY: the handle is open for as long as `conn` is borrowed; the call only reads a
    // counter into the two integers.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_status(
            conn.handle(),
            libsqlite3_sys::SQLITE_DBSTATUS_CACHE_USED,
            &mut used,
            &mut highest,
            0,
        )
    };
    assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
    i64::from(used)
}

/// A random key, as a note's id is.
fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[test]
fn the_page_cache_skips_only_the_drops_with_nothing_to_drop() {
    assert!(
        backchannel::db::pcache::install(),
        "installed before SQLite started"
    );
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("cache.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
    )
    .unwrap();
    let mut kept = Vec::new();
    let insert = |conn: &Connection, rows: &[(String, Vec<u8>)]| {
        let tx = conn.unchecked_transaction().unwrap();
        for (k, v) in rows {
            tx.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", params![k, v])
                .unwrap();
        }
        tx.commit().unwrap();
    };

    // Rows at random places, ten to a transaction, as notes land: leaves split, and SQLite
    // moves pages through its scratch page number.
    let before = backchannel::db::pcache::skipped();
    for _ in 0..200 {
        let rows: Vec<_> = (0..10).map(|_| (key(), vec![1u8; 300])).collect();
        insert(&conn, &rows);
        kept.extend(rows);
    }
    let skipped = backchannel::db::pcache::skipped() - before;
    assert!(
        skipped >= 150,
        "most ends of transaction skip the walk ({skipped} of 200)"
    );

    // A transaction that grows the file and rolls back: the pages past the old end must leave
    // the cache, or the file's next growth would take their stale contents for its new pages.
    let pages = |conn: &Connection| -> i64 {
        conn.query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    };
    let size = pages(&conn);
    conn.execute_batch("BEGIN").unwrap();
    for _ in 0..2000 {
        conn.execute(
            "INSERT INTO t (k, v) VALUES (?1, ?2)",
            params![key(), vec![2u8; 1000]],
        )
        .unwrap();
    }
    assert!(
        pages(&conn) > size + 100,
        "the file grew in the transaction"
    );
    let grown = cache_used(&conn);
    conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(pages(&conn), size);
    let after = cache_used(&conn);
    assert!(
        after < grown / 2,
        "the pages past the end left the cache ({grown} bytes, then {after})"
    );

    // The file grows again over the same page numbers, with other rows.
    for _ in 0..100 {
        let rows: Vec<_> = (0..20).map(|_| (key(), vec![3u8; 700])).collect();
        insert(&conn, &rows);
        kept.extend(rows);
    }
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored as usize, kept.len(), "no rolled-back row is left");
    for (k, v) in kept.iter().step_by(37) {
        let got: Vec<u8> = conn
            .query_row("SELECT v FROM t WHERE k = ?1", [k], |r| r.get(0))
            .unwrap();
        assert_eq!(&got, v);
    }

    // A file that shrinks: with `auto_vacuum` the commit of a large delete moves the pages
    // left to the front and cuts the file, and the cache must let go of the pages cut off.
    let shrinking = Connection::open(dir.path().join("shrinking.db")).unwrap();
    shrinking
        .execute_batch(
            "PRAGMA auto_vacuum = FULL;
             PRAGMA journal_mode = WAL;
             CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
        )
        .unwrap();
    let rows: Vec<_> = (0..1500).map(|_| (key(), vec![4u8; 1000])).collect();
    insert(&shrinking, &rows);
    let full = (pages(&shrinking), cache_used(&shrinking));
    shrinking
        .execute("DELETE FROM t WHERE v = ?1", [vec![4u8; 1000]])
        .unwrap();
    let cut = (pages(&shrinking), cache_used(&shrinking));
    assert!(cut.0 < full.0 / 10, "the file shrank");
    assert!(
        cut.1 < full.1 / 4,
        "the cache let go of the pages cut off ({full:?}, then {cut:?})"
    );

    // A second connection reads every row the first wrote.
    let other = Connection::open(dir.path().join("cache.db")).unwrap();
    let seen: i64 = other
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(seen as usize, kept.len());
}
