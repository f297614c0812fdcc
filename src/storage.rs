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

        let ring = read_or_create(&dir.join("notes.key"), "storage.data_dir", || {
            format!("{}:{}", random_hex(4), random_b64(32).expose_secret()).into()
        })?;
        let mut notes = Vec::new();
        for line in ring
            .expose_secret()
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let bad = || SettingsError {
                key: "storage.data_dir".into(),
                message: "notes.key is malformed (expected lines of <key id>:<base64 key>)".into(),
            };
            let (kid, key) = line.trim().split_once(':').ok_or_else(bad)?;
            let key = b64_decode(key).ok_or_else(bad)?;
            if key.len() != 32 || kid.is_empty() {
                return Err(bad());
            }
            notes.push((kid.to_owned(), SecretSlice::from(key)));
        }
        if notes.is_empty() {
            return Err(SettingsError {
                key: "storage.data_dir".into(),
                message: "notes.key holds no key".into(),
            });
        }
        Ok(Self { signing, notes })
    }
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
