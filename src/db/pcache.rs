//! SQLite's own page cache, less a scan of the whole cache at the end of most note commits.
//!
//! At the end of every transaction SQLite asks its page cache to drop the pages past the end
//! of the database (`xTruncate`); there are none unless the file shrank. The default cache
//! (`pcache1`) skips that work when no page it has ever held lies past the end, by the highest
//! page number it has seen. But when a B-tree page splits, SQLite moves pages through a
//! scratch number past any real page (the page holding the file-lock bytes, 262,145 with
//! 4 KiB pages), and from then on the cache believes a page may lie out there: the next end
//! of transaction walks its whole hash table, every slot of it, to find nothing. Notes land
//! at random places in their B-trees, so leaves split at most commits, and the note writer's
//! 16 MiB cache made that walk 8% of its time.
//!
//! [`install`] puts a thin layer over the default cache that keeps the same bound itself,
//! except for pages that were only passed through a number and moved on: it records the
//! highest number a page was fetched at and the numbers above it that a page was moved to and
//! has not left. When no page can lie past the new end it answers the drop itself (there is
//! nothing to drop); otherwise the default cache does it as before. Every other call goes
//! straight through.
//!
//! SQLite takes a page cache only before it is first initialised, so [`install`] must run
//! before the first connection opens; later it changes nothing, and SQLite keeps its own. Nor
//! may another thread be starting SQLite meanwhile (`sqlite3_config` is not safe against
//! that): `db::connect` calls it, and the service opens nothing before its pool.

use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libsqlite3_sys as ffi;

/// The default cache's methods, which every call is passed to.
static DEFAULT: OnceLock<Methods> = OnceLock::new();

struct Methods(ffi::sqlite3_pcache_methods2);
// SAFETY: the table holds SQLite's static functions and the default cache's `pArg`, which
// only SQLite's own functions read; it is never written after `install`.
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

/// Drops answered here because no page could lie past the new end.
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// How many times a cache was asked to drop the pages past the end and held none there, so
/// that the default cache's walk was skipped; since the program started.
pub fn skipped() -> u64 {
    SKIPPED.load(Ordering::Relaxed)
}

/// Whether this layer is SQLite's page cache; `false` if SQLite was initialised first.
pub fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: both calls are documented for any time before `sqlite3_initialize`; once
        // SQLite is initialised they return SQLITE_MISUSE and change nothing. The default's
        // table is copied out; SQLite copies the table it is given.
        unsafe {
            let mut default = std::mem::zeroed::<ffi::sqlite3_pcache_methods2>();
            let got = ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETPCACHE2,
                &mut default as *mut ffi::sqlite3_pcache_methods2,
            );
            if got != ffi::SQLITE_OK || default.iVersion < 1 || default.xCreate.is_none() {
                return false;
            }
            if DEFAULT.set(Methods(default)).is_err() {
                return false;
            }
            let ours = ffi::sqlite3_pcache_methods2 {
                iVersion: 1,
                pArg: std::ptr::null_mut(),
                xInit: Some(init),
                xShutdown: Some(shutdown),
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
            };
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PCACHE2,
                &ours as *const ffi::sqlite3_pcache_methods2,
            ) == ffi::SQLITE_OK
        }
    })
}

/// One cache: the default cache's, and what may lie past the highest page fetched.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// The highest page number this cache was asked for.
    fetched: c_uint,
    /// Numbers above `fetched` a page was moved to and has not been moved away from; SQLite
    /// moves at most a few pages at a time, so this stays tiny.
    moved: Vec<c_uint>,
}

impl Cache {
    /// Whether a page numbered `limit` or higher may be in the cache.
    fn may_hold_from(&self, limit: c_uint) -> bool {
        self.fetched >= limit || self.moved.iter().any(|&key| key >= limit)
    }
}

fn default() -> &'static ffi::sqlite3_pcache_methods2 {
    &DEFAULT
        .get()
        .expect("SQLite calls the cache only after `install` set it")
        .0
}

/// # Safety
/// `p` must be a cache this layer created and has not destroyed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: `create` hands SQLite a leaked `Box<Cache>`; SQLite calls a cache's methods
    // one at a time (under its connection's or the cache group's mutex).
    unsafe { &mut *(p as *mut Cache) }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    let default = default();
    match default.xInit {
        // SAFETY: SQLite's own initialisation of its default cache, with its own argument.
        Some(init) => unsafe { init(default.pArg) },
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    let default = default();
    if let Some(shutdown) = default.xShutdown {
        // SAFETY: as `init`.
        unsafe { shutdown(default.pArg) }
    }
}

unsafe extern "C" fn create(
    page: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = default().xCreate else {
        return std::ptr::null_mut();
    };
    // SAFETY: the default cache's constructor, called as SQLite would.
    let inner = unsafe { create(page, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let cache = Cache {
        inner,
        fetched: 0,
        moved: Vec::new(),
    };
    Box::into_raw(Box::new(cache)) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: `p` is ours (SQLite passes back what `create` returned), as in every method.
    unsafe {
        if let Some(cachesize) = default().xCachesize {
            cachesize(cache(p).inner, pages)
        }
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as `cachesize`.
    unsafe {
        match default().xPagecount {
            Some(pagecount) => pagecount(cache(p).inner),
            None => 0,
        }
    }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as `cachesize`.
    unsafe {
        let cache = cache(p);
        let Some(fetch) = default().xFetch else {
            return std::ptr::null_mut();
        };
        let page = fetch(cache.inner, key, create);
        if !page.is_null() && key > cache.fetched {
            cache.fetched = key;
            cache.moved.retain(|&moved| moved > key);
        }
        page
    }
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as `cachesize`; `page` is the default cache's, as `fetch` returned it.
    unsafe {
        if let Some(unpin) = default().xUnpin {
            unpin(cache(p).inner, page, discard)
        }
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as `unpin`.
    unsafe {
        let cache = cache(p);
        if let Some(rekey) = default().xRekey {
            rekey(cache.inner, page, old, new)
        }
        cache.moved.retain(|&moved| moved != old);
        if new > cache.fetched {
            cache.moved.push(new);
        }
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as `cachesize`.
    unsafe {
        let cache = cache(p);
        if !cache.may_hold_from(limit) {
            // No page numbered `limit` or higher: nothing to drop.
            SKIPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(truncate) = default().xTruncate {
            truncate(cache.inner, limit)
        }
        cache.fetched = cache.fetched.min(limit.saturating_sub(1));
        cache.moved.retain(|&moved| moved < limit);
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as `cachesize`; SQLite makes no call on the cache after this one.
    unsafe {
        let cache = Box::from_raw(p as *mut Cache);
        if let Some(destroy) = default().xDestroy {
            destroy(cache.inner)
        }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as `cachesize`.
    unsafe {
        if let Some(shrink) = default().xShrink {
            shrink(cache(p).inner)
        }
    }
}
