//! Typed settings, loaded in layers: `config/default.toml`, then `config/{BACKCHANNEL_ENV}.toml`,
//! then `BACKCHANNEL_*` environment variables (`__` between sections; plain `DATABASE_URL` is
//! honoured too). Every struct denies unknown keys, and `validate` refuses unsafe values, so a
//! typo or a weak secret stops the start with one line that names the key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub storage: StorageSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub log: LogSettings,
    pub dialogues: DialogueSettings,
    pub invitations: InvitationSettings,
    pub mail: MailSettings,
    pub notes: NoteSettings,
    pub metrics: MetricsSettings,
    pub webhooks: WebhookSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Admit destinations on loopback, private and other inward addresses (tests, or a
    /// receiver on the same private network). Off: such destinations are refused, at creation
    /// and again at every delivery, so webhooks cannot be aimed at this network.
    pub allow_private_destinations: bool,
    /// Admit plain `http://` destinations (otherwise `https://` only).
    pub allow_http: bool,
    /// How often the background sender looks for due deliveries.
    pub poll_interval_ms: u64,
    /// Attempts before a delivery is given up (it stays listed, marked failed).
    pub max_attempts: i32,
    /// The first retry waits this long; each next one twice as long, up to an hour.
    pub backoff_base_ms: u64,
    /// Per request: connecting, sending and the receiver's answer.
    pub timeout_secs: u64,
    /// Delivered and failed deliveries are kept this many days for the deliveries list.
    pub retention_days: i64,
}

impl WebhookSettings {
    /// The destination rules these settings set.
    pub fn destination_policy(&self) -> crate::domain::webhooks::DestinationPolicy {
        crate::domain::webhooks::DestinationPolicy {
            allow_http: self.allow_http,
            allow_private: self.allow_private_destinations,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve Prometheus metrics at `/metrics`.
    pub enabled: bool,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteSettings {
    /// Shared notes are released only in rounds with at least this many participants who may
    /// write them (`store::participants::possible_authors`).
    pub min_release_group: u64,
    /// Longest note, summary or statement, in characters.
    pub body_max_chars: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogueSettings {
    /// false: only platform admins and existing organizers create dialogues.
    pub open_creation: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationSettings {
    pub default_expiry_days: i64,
    /// Where the mailed link points; the token travels in the fragment, never to a server log.
    pub accept_url: String,
    /// A reminder goes to pending invitees this many hours before expiry.
    pub reminder_before_hours: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `file`: messages are written as .eml files into `<data_dir>/outbox/`; `smtp`: sent.
    pub transport: String,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls`, `tls` or `none` (none only for a relay on this host).
    pub smtp_security: String,
    pub smtp_username: String,
    pub smtp_password: SecretString,
    /// How often the background sender looks for due messages.
    pub poll_interval_ms: u64,
    /// Attempts before a message is given up (it stays in the table, marked failed).
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port (the tests do this).
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Peers whose `X-Forwarded-For` is believed. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest JSON body accepted by any route, in bytes.
    pub json_limit_bytes: usize,
    /// Seconds in-flight requests get to finish on SIGTERM / Ctrl-C.
    pub shutdown_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Empty: SQLite at `<data_dir>/backchannel.db`. Otherwise `sqlite://…` or `postgres://…`.
    pub url: SecretString,
    pub max_connections: u32,
    pub migrate_on_start: bool,
    /// Milliseconds a SQLite connection waits for the write lock before giving up.
    pub sqlite_busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    pub data_dir: PathBuf,
    /// The key ring that seals note, summary, statement and outcome texts, current key first:
    /// entries `<key id>:<base64 key>` separated by commas or line breaks. Empty: generated
    /// once into `<data_dir>/notes.key`.
    pub notes_key: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens, at least 32 bytes. Empty: generated once into the data directory.
    pub signing_secret: SecretString,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_days: i64,
    pub password_min_chars: usize,
    pub password_max_chars: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password hashes computed at once; 0 means one per core.
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub login_per_ip_per_minute: u32,
    pub login_per_account_per_minute: u32,
    /// Invitation preview, accept and decline, per client address.
    pub invitation_per_ip_per_minute: u32,
    /// Invitation preview, accept and decline, per invitee.
    pub invitation_per_account_per_minute: u32,
    /// Notes written, per account and per client address.
    pub note_per_account_per_minute: u32,
    pub note_per_ip_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `backchannel=debug,info`.
    pub level: String,
}

/// A setting that stops the start, with the key it concerns.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {key}: {message}")]
pub struct SettingsError {
    pub key: String,
    pub message: String,
}

impl SettingsError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// Argon2id parameters OWASP's Password Storage cheat sheet accepts (memory KiB, iterations),
/// each with parallelism 1. Weaker settings are refused.
const OWASP_ARGON2_ROWS: [(u32, u32); 5] =
    [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)];

impl Settings {
    /// Files and environment, as the binary loads them.
    pub fn load() -> Result<Self, SettingsError> {
        let dir = std::env::var_os("BACKCHANNEL_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        let env = std::env::var("BACKCHANNEL_ENV").ok();
        let figment = Self::files(&dir, env.as_deref())
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            .merge(
                Env::prefixed("BACKCHANNEL_")
                    .ignore(&["ENV", "CONFIG_DIR"])
                    .split("__"),
            );
        Self::extract(figment)
    }

    /// Files only: the tests use this so the environment of the machine cannot leak in.
    pub fn load_files(dir: &Path, env: Option<&str>) -> Result<Self, SettingsError> {
        Self::extract(Self::files(dir, env))
    }

    fn files(dir: &Path, env: Option<&str>) -> Figment {
        let mut figment = Figment::new().merge(Toml::file_exact(dir.join("default.toml")));
        if let Some(env) = env.filter(|e| !e.is_empty()) {
            figment = figment.merge(Toml::file_exact(dir.join(format!("{env}.toml"))));
        }
        figment
    }

    fn extract(figment: Figment) -> Result<Self, SettingsError> {
        let settings: Settings = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            // figment's message names the key or file without ever printing a value.
            let message = e.kind.to_string();
            SettingsError::new(if key.is_empty() { "config" } else { &key }, message)
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Whether the notes' key ring comes from `storage.notes_key` rather than the key file.
    pub fn notes_key_configured(&self) -> bool {
        !self.storage.notes_key.expose_secret().trim().is_empty()
    }

    /// Refuses values that would make the service unsafe or unable to run.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let secret = self.auth.signing_secret.expose_secret();
        if !secret.is_empty() && secret.len() < 32 {
            return Err(SettingsError::new(
                "auth.signing_secret",
                "must be at least 32 bytes (or empty to generate one into the data directory)",
            ));
        }
        let url = self.database.url.expose_secret();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(SettingsError::new(
                "database.url",
                "must be empty (SQLite in the data directory), sqlite:… or postgres://…",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(SettingsError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.database.sqlite_busy_timeout_ms < 1000 {
            return Err(SettingsError::new(
                "database.sqlite_busy_timeout_ms",
                "must be at least 1000 so writers queue instead of failing",
            ));
        }
        if self.storage.data_dir.as_os_str().is_empty() {
            return Err(SettingsError::new("storage.data_dir", "must not be empty"));
        }
        let a = &self.auth;
        if a.issuer.is_empty() {
            return Err(SettingsError::new("auth.issuer", "must not be empty"));
        }
        if a.audience.is_empty() {
            return Err(SettingsError::new("auth.audience", "must not be empty"));
        }
        if !(60..=3600).contains(&a.access_token_ttl_secs) {
            return Err(SettingsError::new(
                "auth.access_token_ttl_secs",
                "must be between 60 and 3600",
            ));
        }
        if !(1..=365).contains(&a.refresh_token_ttl_days) {
            return Err(SettingsError::new(
                "auth.refresh_token_ttl_days",
                "must be between 1 and 365",
            ));
        }
        if a.password_min_chars < 8 {
            return Err(SettingsError::new(
                "auth.password_min_chars",
                "must be at least 8",
            ));
        }
        if a.password_max_chars < a.password_min_chars.max(64) || a.password_max_chars > 1024 {
            return Err(SettingsError::new(
                "auth.password_max_chars",
                "must be between max(64, password_min_chars) and 1024",
            ));
        }
        let strong_enough = a.argon2_parallelism >= 1
            && OWASP_ARGON2_ROWS
                .iter()
                .any(|&(m, t)| a.argon2_memory_kib >= m && a.argon2_iterations >= t);
        if !strong_enough || a.argon2_memory_kib > 1_048_576 || a.argon2_iterations > 20 {
            return Err(SettingsError::new(
                "auth.argon2_memory_kib",
                "argon2 parameters must meet an OWASP row (e.g. 19456 KiB with 2 iterations) and stay below 1 GiB / 20 iterations",
            ));
        }
        let r = &self.rate_limit;
        if r.login_per_ip_per_minute == 0 {
            return Err(SettingsError::new(
                "rate_limit.login_per_ip_per_minute",
                "must be at least 1",
            ));
        }
        if r.login_per_account_per_minute == 0 {
            return Err(SettingsError::new(
                "rate_limit.login_per_account_per_minute",
                "must be at least 1",
            ));
        }
        if r.invitation_per_account_per_minute == 0
            || r.note_per_account_per_minute == 0
            || r.note_per_ip_per_minute == 0
        {
            return Err(SettingsError::new(
                "rate_limit",
                "every quota must be at least 1 per minute",
            ));
        }
        if r.invitation_per_ip_per_minute == 0 {
            return Err(SettingsError::new(
                "rate_limit.invitation_per_ip_per_minute",
                "must be at least 1",
            ));
        }
        if !(1..=90).contains(&self.invitations.default_expiry_days) {
            return Err(SettingsError::new(
                "invitations.default_expiry_days",
                "must be between 1 and 90",
            ));
        }
        if self.invitations.accept_url.is_empty() {
            return Err(SettingsError::new(
                "invitations.accept_url",
                "must not be empty",
            ));
        }
        if !(1..=24 * 30).contains(&self.invitations.reminder_before_hours) {
            return Err(SettingsError::new(
                "invitations.reminder_before_hours",
                "must be between 1 and 720",
            ));
        }
        let m = &self.mail;
        if !matches!(m.transport.as_str(), "file" | "smtp") {
            return Err(SettingsError::new("mail.transport", "must be file or smtp"));
        }
        if !matches!(m.smtp_security.as_str(), "starttls" | "tls" | "none") {
            return Err(SettingsError::new(
                "mail.smtp_security",
                "must be starttls, tls or none",
            ));
        }
        if m.transport == "smtp" && m.smtp_host.is_empty() {
            return Err(SettingsError::new(
                "mail.smtp_host",
                "is required with the smtp transport",
            ));
        }
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(SettingsError::new(
                "mail.from",
                "must be a mailbox such as Name <addr@example.org>",
            ));
        }
        if m.poll_interval_ms < 10 || m.max_attempts < 1 {
            return Err(SettingsError::new(
                "mail.poll_interval_ms",
                "poll interval ≥ 10 ms and max_attempts ≥ 1",
            ));
        }
        let w = &self.webhooks;
        if w.poll_interval_ms < 10 || !(1..=50).contains(&w.max_attempts) {
            return Err(SettingsError::new(
                "webhooks.poll_interval_ms",
                "poll interval ≥ 10 ms and max_attempts between 1 and 50",
            ));
        }
        if !(10..=3_600_000).contains(&w.backoff_base_ms) {
            return Err(SettingsError::new(
                "webhooks.backoff_base_ms",
                "must be between 10 ms and one hour",
            ));
        }
        if !(1..=60).contains(&w.timeout_secs) {
            return Err(SettingsError::new(
                "webhooks.timeout_secs",
                "must be between 1 and 60",
            ));
        }
        if !(1..=365).contains(&w.retention_days) {
            return Err(SettingsError::new(
                "webhooks.retention_days",
                "must be between 1 and 365",
            ));
        }
        if self.notes.min_release_group < 3 {
            return Err(SettingsError::new(
                "notes.min_release_group",
                "must be at least 3: smaller groups make shared notes attributable",
            ));
        }
        if !(100..=60_000).contains(&self.notes.body_max_chars) {
            return Err(SettingsError::new(
                "notes.body_max_chars",
                "must be between 100 and 60000",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(SettingsError::new("log.format", "must be text or json"));
        }
        if self.http.json_limit_bytes < 1024 || self.http.json_limit_bytes > 1 << 20 {
            return Err(SettingsError::new(
                "http.json_limit_bytes",
                "must be between 1 KiB and 1 MiB",
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        let url = self.database.url.expose_secret();
        if url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.storage.data_dir.join("backchannel.db").display()
            )
        } else {
            url.to_owned()
        }
    }

    pub fn uses_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    #[test]
    fn every_committed_config_file_parses_and_validates() {
        for env in [None, Some("test"), Some("production")] {
            Settings::load_files(&config_dir(), env).unwrap_or_else(|e| panic!("{env:?}: {e}"));
        }
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_name() {
        let figment = Settings::files(&config_dir(), None).merge(
            figment::providers::Serialized::default("http.colour", "blue"),
        );
        let err = Settings::extract(figment).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn a_short_signing_secret_is_refused() {
        let figment = Settings::files(&config_dir(), None).merge(
            figment::providers::Serialized::default("auth.signing_secret", "too-short-secret"),
        );
        let err = Settings::extract(figment).unwrap_err();
        assert_eq!(err.key, "auth.signing_secret");
    }

    #[test]
    fn weak_argon2_parameters_are_refused() {
        let figment = Settings::files(&config_dir(), None).merge(
            figment::providers::Serialized::default("auth.argon2_memory_kib", 4096),
        );
        assert_eq!(
            Settings::extract(figment).unwrap_err().key,
            "auth.argon2_memory_kib"
        );
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let figment = Settings::files(&config_dir(), None)
            .merge(figment::providers::Serialized::default(
                "auth.signing_secret",
                "canary-secret-canary-secret-canary-secret",
            ))
            .merge(figment::providers::Serialized::default(
                "database.url",
                "postgres://user:canary-password@db/x",
            ));
        let settings = Settings::extract(figment).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("canary"), "{debug}");
    }
}
