//! The data directory: it holds the SQLite database, the generated keys and the mail outbox, all
//! confidential. The directory is created 0700 and every file in it 0600; the process umask is
//! tightened at start so files other code creates there (WAL, shared memory) are private too.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::settings::{Settings, SettingsError};

/// Files created by this process are readable by its user alone.
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Each password hash allocates ~19 MiB. glibc raises its mmap threshold after the first such
/// block is freed and from then on keeps freed blocks in per-thread arenas, so a login storm
/// would leave hundreds of MiB resident. A fixed threshold makes large blocks always come from
/// (and go back to) the kernel.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called once at start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

/// Returns memory freed after start-up (migrations, the OpenAPI document) to the kernel.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Creates the data directory (0700) or tightens an existing one.
pub fn prepare_data_dir(dir: &Path) -> Result<(), SettingsError> {
    let fail = |what: &str, e: std::io::Error| SettingsError {
        key: "storage.data_dir".into(),
        message: format!("{what} {}: {}", dir.display(), e.kind()),
    };
    fs::create_dir_all(dir).map_err(|e| fail("cannot create", e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| fail("cannot restrict", e))?;
    Ok(())
}

/// The secrets the service runs with, from settings or generated once into the data directory.
pub struct Keys {
    pub signing: SecretSlice<u8>,
    /// Note-encryption key ring: the first key encrypts, every key decrypts (for rotation).
    pub notes: Vec<(String, SecretSlice<u8>)>,
}

impl Keys {
    pub fn load_or_generate(settings: &Settings) -> Result<Self, SettingsError> {
        let dir = &settings.storage.data_dir;
        let configured = settings.auth.signing_secret.expose_secret();
        let signing = if configured.is_empty() {
            read_or_create(&dir.join("signing.key"), "auth.signing_secret", || {
                random_b64(64)
            })?
        } else {
            configured.to_owned().into()
        };
        let signing = SecretSlice::from(signing.expose_secret().as_bytes().to_vec());

        let notes = if settings.notes_key_configured() {
            parse_ring(
                settings.storage.notes_key.expose_secret(),
                "storage.notes_key",
                "storage.notes_key",
            )?
        } else {
            let ring = read_or_create(&dir.join("notes.key"), "storage.data_dir", new_ring_line)?;
            parse_ring(ring.expose_secret(), "storage.data_dir", "notes.key")?
        };
        Ok(Self { signing, notes })
    }
}

/// A fresh entry for a key ring: `<key id>:<base64 key>`, a random 4-byte id and 32-byte key.
pub fn new_ring_line() -> SecretString {
    format!("{}:{}", random_hex(4), random_b64(32).expose_secret()).into()
}

/// A key ring, current key first: entries `<key id>:<base64 key>` separated by line breaks,
/// commas or spaces (one line fits an environment variable). `key` names the setting an error
/// concerns, `what` the ring in its message; neither message repeats a key.
fn parse_ring(
    text: &str,
    key: &str,
    what: &str,
) -> Result<Vec<(String, SecretSlice<u8>)>, SettingsError> {
    let bad = || SettingsError {
        key: key.into(),
        message: format!("{what} is malformed (expected entries of <key id>:<base64 key>)"),
    };
    let mut notes: Vec<(String, SecretSlice<u8>)> = Vec::new();
    for entry in text
        .split([',', ' ', '\n', '\r', '\t'])
        .filter(|e| !e.is_empty())
    {
        let (kid, key) = entry.split_once(':').ok_or_else(bad)?;
        let key = b64_decode(key).ok_or_else(bad)?;
        if key.len() != 32 || kid.is_empty() || notes.iter().any(|(k, _)| k == kid) {
            return Err(bad());
        }
        notes.push((kid.to_owned(), SecretSlice::from(key)));
    }
    if notes.is_empty() {
        return Err(SettingsError {
            key: key.into(),
            message: format!("{what} holds no key"),
        });
    }
    Ok(notes)
}

/// `<data_dir>/service.lock`, which every serving process holds shared for as long as it runs
/// and `keys rotate` holds exclusive: a rotation refuses to start beside a server on the same
/// data directory (that server would go on sealing under the key it started with), and a
/// server refuses to start during a rotation. Released when dropped or when the process ends,
/// however it ends. Nodes on other hosts share no data directory: stop them all by hand.
pub struct ServiceLock(#[allow(dead_code)] fs::File);

impl ServiceLock {
    /// The lock a server holds while it runs.
    pub fn serving(dir: &Path) -> Result<Self, String> {
        let file = lock_file(dir)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Self(file)),
            Err(fs::TryLockError::WouldBlock) => Err(format!(
                "a key rotation is running on {}; start the service once it has finished",
                dir.display()
            )),
            Err(fs::TryLockError::Error(e)) => Err(format!("locking {}: {e}", dir.display())),
        }
    }

    /// The lock `keys rotate` holds: taken only while no server runs on `dir`.
    pub fn rotating(dir: &Path) -> Result<Self, String> {
        let file = lock_file(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Self(file)),
            Err(fs::TryLockError::WouldBlock) => Err(format!(
                "the service is running on {} (or another rotation is); stop it first: a running \
                 server keeps sealing with the key it started with",
                dir.display()
            )),
            Err(fs::TryLockError::Error(e)) => Err(format!("locking {}: {e}", dir.display())),
        }
    }
}

fn lock_file(dir: &Path) -> Result<fs::File, String> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join("service.lock"))
        .map_err(|e| format!("opening {}/service.lock: {}", dir.display(), e.kind()))
}

fn read_or_create(
    path: &PathBuf,
    key: &str,
    generate: impl FnOnce() -> SecretString,
) -> Result<SecretString, SettingsError> {
    let fail = |what: &str, e: std::io::Error| SettingsError {
        key: key.into(),
        message: format!("{what} {}: {}", path.display(), e.kind()),
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            let meta = fs::metadata(path).map_err(|e| fail("cannot stat", e))?;
            if meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                    .map_err(|e| fail("cannot restrict", e))?;
            }
            Ok(text.trim().to_owned().into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = generate();
            // create_new: two nodes starting at once on one directory never overwrite each other.
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| fail("cannot create", e))?;
            file.write_all(value.expose_secret().as_bytes())
                .and_then(|_| file.sync_all())
                .map_err(|e| fail("cannot write", e))?;
            Ok(value)
        }
        Err(e) => Err(fail("cannot read", e)),
    }
}

/// `n` bytes from the operating system's random source.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

pub fn random_b64(n: usize) -> SecretString {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(random_bytes(n))
        .into()
}

fn random_hex(n: usize) -> String {
    hex::encode(random_bytes(n))
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()
}

/// Makes files created by others (SQLite's WAL and shared-memory files) private.
pub fn restrict_files(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kid: &str, byte: u8) -> String {
        use base64::Engine;
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([byte; 32]);
        format!("{kid}:{key}")
    }

    /// A ring reads the same from the key file's lines and from one comma-separated setting,
    /// current key first.
    #[test]
    fn a_ring_parses_from_lines_or_commas_current_key_first() {
        let (a, b) = (entry("aa11", 1), entry("bb22", 2));
        for text in [
            format!("{a}\n{b}\n"),
            format!("{a},{b}"),
            format!(" {a}, {b} "),
        ] {
            let ring = parse_ring(&text, "storage.notes_key", "storage.notes_key").unwrap();
            let ids: Vec<&str> = ring.iter().map(|(kid, _)| kid.as_str()).collect();
            assert_eq!(ids, ["aa11", "bb22"], "{text:?}");
            assert_eq!(ring[1].1.expose_secret(), &[2u8; 32]);
        }
    }

    /// A malformed ring is refused with the setting's name, and the message repeats no key.
    #[test]
    fn a_malformed_ring_is_refused_without_repeating_a_key() {
        let good = entry("aa11", 7);
        let secret = good.split_once(':').unwrap().1.to_owned();
        for text in [
            secret.clone(),
            format!("{good},{good}"),
            format!("aa11:{}", &secret[..20]),
            format!(":{secret}"),
            " , ".to_owned(),
        ] {
            let err = parse_ring(&text, "storage.notes_key", "storage.notes_key").unwrap_err();
            assert_eq!(err.key, "storage.notes_key");
            assert!(!err.message.contains(&secret[..20]), "{}", err.message);
        }
    }
}
