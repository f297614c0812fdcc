//! Outgoing mail: a durable outbox in the database and a background sender that drains it.
//!
//! Guarantees:
//!
//! * **Nothing is lost.** [`enqueue`] writes the message into the `mail_outbox` table through the
//!   caller's own transaction, so it commits (or rolls back) together with the invitation or
//!   reminder that caused it. A crash, a restart or an SMTP outage leaves the row in place and
//!   the sender picks it up later. Delivery is at least once: a node that dies between handing a
//!   message to the relay and deleting its row sends it again after its claim expires.
//! * **Sealed at rest.** The whole message (recipient, subject, body) is sealed with the
//!   [`Cipher`] before it is stored, with the row id as associated data, because invitation mail
//!   carries a secret accept link and invitee addresses are confidential. Only the kind of mail
//!   and the delivery bookkeeping are in the clear.
//! * **Gone once sent.** A delivered message's row is deleted; SQLite runs with `secure_delete`,
//!   so the sealed bytes are overwritten in the file too.
//! * **Polite retries.** A failed attempt is retried after 2^attempts seconds, capped at one
//!   hour; after `mail.max_attempts` attempts the row is kept but marked failed (as is a message
//!   that can never be sent, such as one that no longer opens or has an invalid recipient).
//! * **Several nodes may send.** Due rows are claimed for a while before they are sent
//!   ([`crate::outbox::claim`]); a claim expires, so the rows of a node that crashed mid-pass
//!   are retried by another.
//! * **Quiet logs.** Log lines carry the row id, the kind of mail and a short error kind, never the
//!   recipient, subject or body (SMTP replies are not logged either: they may quote the address).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::crypto::{Cipher, CryptoError};
use crate::entities::mail_outbox;
use crate::settings::{MailSettings, Settings};
use crate::store::{new_id, now};

/// Rows claimed and sent per pass.
const BATCH: u64 = 20;
/// How long a claim keeps other senders off a row.
const CLAIM_SECS: i64 = 600;
/// Longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 3600;
/// Per SMTP command, including connecting.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// A message as queued: sealed as a whole into `mail_outbox.sealed`.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Adds a message to the outbox inside the caller's transaction/connection. Returns the row id.
/// It is due at once; the background sender delivers it on its next pass.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    cipher: &Cipher,
    kind: &str,
    mail: &OutgoingMail,
) -> Result<String, DbErr> {
    let id = new_id();
    let plain = serde_json::to_vec(mail).map_err(|e| DbErr::Custom(format!("mail: {e}")))?;
    let (key_id, sealed) = cipher.seal(&plain, id.as_bytes());
    let now = now();
    mail_outbox::ActiveModel {
        id: Set(id.clone()),
        kind: Set(kind.to_owned()),
        sealed: Set(sealed),
        key_id: Set(key_id),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        last_error: Set(None),
        failed: Set(false),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Where messages go.
pub enum Transport {
    /// Each message becomes `<id>.eml` (mode 0600) in this directory.
    File(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    /// `mail.transport = "file"` → `<data_dir>/outbox/` (create it 0700 if missing); "smtp" → host/port/security(starttls|tls|none)/credentials from settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let m = &settings.mail;
        match m.transport.as_str() {
            "file" => {
                let dir = settings.storage.data_dir.join("outbox");
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .and_then(|_| {
                        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    })
                    .map_err(|e| {
                        format!("mail outbox {}: cannot create: {}", dir.display(), e.kind())
                    })?;
                Ok(Self::File(dir))
            }
            "smtp" => {
                if m.smtp_host.is_empty() {
                    return Err("mail.smtp_host is required with the smtp transport".into());
                }
                let tls_error = |_| {
                    format!(
                        "mail.smtp_host: {} is not a valid TLS server name",
                        m.smtp_host
                    )
                };
                let builder = match m.smtp_security.as_str() {
                    "starttls" => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&m.smtp_host)
                            .map_err(tls_error)?
                    }
                    "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&m.smtp_host)
                        .map_err(tls_error)?,
                    "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&m.smtp_host),
                    _ => return Err("mail.smtp_security must be starttls, tls or none".into()),
                };
                let mut builder = builder.port(m.smtp_port).timeout(Some(SMTP_TIMEOUT));
                if !m.smtp_username.is_empty() {
                    builder = builder.credentials(Credentials::new(
                        m.smtp_username.clone(),
                        m.smtp_password.expose_secret().to_owned(),
                    ));
                }
                Ok(Self::Smtp(builder.build()))
            }
            _ => Err("mail.transport must be file or smtp".into()),
        }
    }

    async fn send(&self, message: Message) -> Result<(), Failure> {
        match self {
            Self::File(dir) => {
                let id = AsyncFileTransport::<Tokio1Executor>::new(dir)
                    .send(message)
                    .await
                    .map_err(|_| Failure::retry("file_io"))?;
                let path = dir.join(format!("{id}.eml"));
                if tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .await
                    .is_err()
                {
                    // A file others could read must not stay behind; the row is retried.
                    let _ = tokio::fs::remove_file(&path).await;
                    return Err(Failure::retry("file_permissions"));
                }
                Ok(())
            }
            Self::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| Failure::retry(smtp_error_kind(&e))),
        }
    }
}

/// Why one attempt failed, in words that carry no content.
struct Failure {
    kind: String,
    /// Retrying cannot help: the row is marked failed at once.
    permanent: bool,
}

impl Failure {
    fn retry(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            permanent: false,
        }
    }

    fn permanent(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            permanent: true,
        }
    }
}

/// The SMTP error's class and reply code only: the reply text may quote the recipient.
fn smtp_error_kind(e: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = e.status() {
        if e.is_permanent() {
            format!("smtp_permanent_{code}")
        } else {
            format!("smtp_transient_{code}")
        }
    } else if e.is_timeout() {
        "smtp_timeout".into()
    } else if e.is_tls() {
        "smtp_tls".into()
    } else if e.is_response() {
        "smtp_bad_response".into()
    } else if e.is_client() {
        "smtp_client".into()
    } else if e.is_transport_shutdown() {
        "smtp_shutdown".into()
    } else {
        "smtp_connection".into()
    }
}

/// Rows that may be claimed now.
fn due(now: chrono::DateTime<chrono::Utc>) -> Condition {
    Condition::all()
        .add(mail_outbox::Column::Failed.eq(false))
        .add(mail_outbox::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(mail_outbox::Column::ClaimedUntil.is_null())
                .add(mail_outbox::Column::ClaimedUntil.lte(now)),
        )
}

/// The oldest due rows.
fn due_rows(now: chrono::DateTime<chrono::Utc>) -> sea_orm::Select<mail_outbox::Entity> {
    mail_outbox::Entity::find()
        .filter(due(now))
        .order_by_asc(mail_outbox::Column::NextAttemptAt)
        .order_by_asc(mail_outbox::Column::Id)
        .limit(BATCH)
}

/// Claims up to [`BATCH`] due rows; returns the claim's expiry (which also identifies it) and
/// the rows.
async fn claim_due(
    db: &DatabaseConnection,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, Vec<mail_outbox::Model>)>, DbErr> {
    crate::outbox::claim(
        db,
        due_rows,
        crate::outbox::Columns {
            id: mail_outbox::Column::Id,
            claimed_until: mail_outbox::Column::ClaimedUntil,
            id_of: |r| r.id.clone(),
        },
        chrono::Duration::seconds(CLAIM_SECS),
    )
    .await
}

/// Opens and builds one queued message.
fn prepare(cipher: &Cipher, from: &str, row: &mail_outbox::Model) -> Result<Message, Failure> {
    let plain = cipher
        .open(&row.key_id, &row.sealed, row.id.as_bytes())
        .map_err(|e| match e {
            // The key may come back into the ring: retried like an outage.
            CryptoError::UnknownKey => Failure::retry("unknown_key"),
            CryptoError::Corrupt => Failure::permanent("corrupt"),
        })?;
    let mail: OutgoingMail =
        serde_json::from_slice(&plain).map_err(|_| Failure::permanent("corrupt"))?;
    let from: Mailbox = from.parse().map_err(|_| Failure::retry("invalid_from"))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|_| Failure::permanent("invalid_recipient"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body)
        .map_err(|_| Failure::permanent("invalid_message"))
}

fn backoff_secs(attempts: i32) -> i64 {
    if attempts >= 12 {
        MAX_BACKOFF_SECS
    } else {
        (1i64 << attempts.max(0)).min(MAX_BACKOFF_SECS)
    }
}

/// Records a failed attempt on a row this pass still holds.
async fn record_failure(
    db: &DatabaseConnection,
    row: &mail_outbox::Model,
    claimed_until: chrono::DateTime<chrono::Utc>,
    failure: &Failure,
    max_attempts: i32,
) -> Result<(), DbErr> {
    let attempts = row.attempts.saturating_add(1);
    let failed = failure.permanent || attempts >= max_attempts;
    let next = now() + chrono::Duration::seconds(backoff_secs(attempts));
    let updated = mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::Attempts, Expr::value(attempts))
        .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(next))
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(
            mail_outbox::Column::LastError,
            Expr::value(failure.kind.clone()),
        )
        .col_expr(mail_outbox::Column::Failed, Expr::value(failed))
        .filter(mail_outbox::Column::Id.eq(row.id.clone()))
        .filter(mail_outbox::Column::ClaimedUntil.eq(claimed_until))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        tracing::warn!(mail_id = %row.id, kind = %row.kind, "mail claim lapsed before the failure was recorded");
    } else if failed {
        tracing::error!(mail_id = %row.id, kind = %row.kind, error = %failure.kind, attempts, "mail given up");
    } else {
        tracing::warn!(mail_id = %row.id, kind = %row.kind, error = %failure.kind, attempts, "mail delivery failed; will retry");
    }
    Ok(())
}

/// Gives back claims this pass will not use, so another pass may take the rows at once.
async fn release(
    db: &DatabaseConnection,
    rows: &[mail_outbox::Model],
    claimed_until: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbErr> {
    mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(mail_outbox::Column::Id.is_in(rows.iter().map(|r| r.id.clone())))
        .filter(mail_outbox::Column::ClaimedUntil.eq(claimed_until))
        .exec(db)
        .await
        .map(|_| ())
}

/// One pass: claim up to 20 due rows (failed = false, next_attempt_at <= now, claimed_until null or past), send each, delete on success; on failure attempts += 1, next_attempt_at = now + min(2^attempts seconds, 3600 s), claimed_until = null, last_error = a short error kind (no content), failed = true once attempts >= settings.max_attempts. Returns how many were sent.
///
/// A message that can never be sent (it no longer opens, or its recipient is not an address)
/// is marked failed at its first attempt. If sending takes so long that the claim is half
/// spent, the rest of the batch is released for the next pass.
pub async fn deliver_due(
    db: &DatabaseConnection,
    cipher: &Cipher,
    transport: &Transport,
    settings: &MailSettings,
) -> Result<usize, DbErr> {
    let Some((claimed_until, rows)) = claim_due(db).await? else {
        return Ok(0);
    };
    let started = Instant::now();
    let mut sent = 0;
    for (i, row) in rows.iter().enumerate() {
        if started.elapsed() > Duration::from_secs(CLAIM_SECS as u64 / 2) {
            release(db, &rows[i..], claimed_until).await?;
            break;
        }
        let outcome = match prepare(cipher, &settings.from, row) {
            Ok(message) => transport.send(message).await,
            Err(failure) => Err(failure),
        };
        match outcome {
            Ok(()) => {
                mail_outbox::Entity::delete_by_id(row.id.clone())
                    .exec(db)
                    .await?;
                tracing::info!(mail_id = %row.id, kind = %row.kind, attempts = row.attempts + 1, "mail sent");
                sent += 1;
            }
            Err(failure) => {
                record_failure(db, row, claimed_until, &failure, settings.max_attempts).await?;
            }
        }
    }
    Ok(sent)
}

/// Spawns a tokio task looping deliver_due every settings.poll_interval_ms; errors are logged and the loop goes on.
///
/// After a pass that sent a whole batch the next pass starts at once, to drain a backlog.
/// Abort the handle to stop it: a pass cut short leaves claims that simply expire.
pub fn spawn_sender(
    db: DatabaseConnection,
    cipher: Cipher,
    transport: Transport,
    settings: MailSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pause = Duration::from_millis(settings.poll_interval_ms);
        loop {
            let busy = match deliver_due(&db, &cipher, &transport, &settings).await {
                Ok(sent) => sent as u64 >= BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "mail sender pass failed");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(pause).await;
            }
        }
    })
}

/// Number of messages waiting (not failed): for metrics and tests.
pub async fn pending_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Failed.eq(false))
        .count(db)
        .await
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use secrecy::SecretSlice;
    use tempfile::TempDir;

    use super::*;

    struct Fixture {
        _dir: TempDir,
        settings: Settings,
        db: DatabaseConnection,
        cipher: Cipher,
    }

    async fn fixture() -> Fixture {
        use migrations::MigratorTrait;
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config"),
            Some("test"),
        )
        .unwrap();
        settings.storage.data_dir = dir.path().join("data");
        crate::storage::prepare_data_dir(&settings.storage.data_dir).unwrap();
        let db = crate::db::connect(&settings).await.unwrap();
        migrations::Migrator::up(&db, None).await.unwrap();
        let cipher = Cipher::new(&[(
            "test".to_owned(),
            SecretSlice::from(crate::storage::random_bytes(32)),
        )])
        .unwrap();
        Fixture {
            _dir: dir,
            settings,
            db,
            cipher,
        }
    }

    fn mail() -> OutgoingMail {
        OutgoingMail {
            to: "Aisha Khan <aisha.khan@example.org>".into(),
            subject: "Invitation to the Geneva round".into(),
            body: "Accept here: http://127.0.0.1:8080/invitation#token=s3cr3t-t0ken".into(),
        }
    }

    /// An SMTP transport aimed at a local port nobody listens on.
    fn dead_smtp(f: &Fixture) -> Transport {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut settings = f.settings.clone();
        settings.mail.transport = "smtp".into();
        settings.mail.smtp_host = "127.0.0.1".into();
        settings.mail.smtp_port = port;
        settings.mail.smtp_security = "none".into();
        Transport::from_settings(&settings).unwrap()
    }

    async fn row(f: &Fixture, id: &str) -> Option<mail_outbox::Model> {
        mail_outbox::Entity::find_by_id(id.to_owned())
            .one(&f.db)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_queued_mail_is_written_as_a_private_eml_file_and_its_row_deleted() {
        let f = fixture().await;
        let txn = crate::db::begin_write(&f.db).await.unwrap();
        let id = enqueue(&txn, &f.cipher, "invitation", &mail())
            .await
            .unwrap();
        txn.commit().await.unwrap();
        assert_eq!(pending_count(&f.db).await.unwrap(), 1);

        let transport = Transport::from_settings(&f.settings).unwrap();
        let Transport::File(outbox) = &transport else {
            panic!("the test settings use the file transport");
        };
        let mode = std::fs::metadata(outbox).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        let sent = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 1);

        let files: Vec<_> = std::fs::read_dir(outbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].extension().unwrap(), "eml");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            text.contains("Subject: Invitation to the Geneva round"),
            "{text}"
        );
        assert!(text.contains(&mail().body), "{text}");
        assert!(text.contains("aisha.khan@example.org"), "{text}");
        assert!(text.contains("no-reply@localhost"), "{text}");
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        assert!(row(&f, &id).await.is_none());
        assert_eq!(pending_count(&f.db).await.unwrap(), 0);
        let again = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(again, 0);
    }

    #[tokio::test]
    async fn a_rolled_back_transaction_queues_nothing() {
        let f = fixture().await;
        let txn = crate::db::begin_write(&f.db).await.unwrap();
        enqueue(&txn, &f.cipher, "invitation", &mail())
            .await
            .unwrap();
        txn.rollback().await.unwrap();
        assert_eq!(pending_count(&f.db).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_stored_row_never_shows_the_message() {
        let f = fixture().await;
        let m = mail();
        let id = enqueue(&f.db, &f.cipher, "invitation", &m).await.unwrap();
        let stored = row(&f, &id).await.unwrap();
        for secret in ["aisha.khan", "Aisha Khan", "Geneva", "s3cr3t-t0ken"] {
            assert!(!stored.sealed.contains(secret), "{secret}");
        }
        assert_eq!(stored.key_id, "test");
        assert_eq!(stored.kind, "invitation");
        assert_eq!(stored.attempts, 0);
        assert!(!stored.failed);
        assert!(stored.claimed_until.is_none());

        // Sealed to its row: it opens with its own id and no other.
        let plain = f
            .cipher
            .open(&stored.key_id, &stored.sealed, id.as_bytes())
            .unwrap();
        let opened: OutgoingMail = serde_json::from_slice(&plain).unwrap();
        assert_eq!(opened.to, m.to);
        assert!(
            f.cipher
                .open(&stored.key_id, &stored.sealed, b"another-row")
                .is_err()
        );
    }

    #[tokio::test]
    async fn an_smtp_outage_keeps_the_row_and_backs_off() {
        let f = fixture().await;
        let id = enqueue(&f.db, &f.cipher, "invitation", &mail())
            .await
            .unwrap();
        let transport = dead_smtp(&f);

        let before = now();
        let sent = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 0);
        let stored = row(&f, &id).await.unwrap();
        assert_eq!(stored.attempts, 1);
        assert!(stored.next_attempt_at > before + chrono::Duration::seconds(1));
        assert!(stored.claimed_until.is_none());
        assert!(!stored.failed);
        let error = stored.last_error.unwrap();
        assert_eq!(error, "smtp_connection");
        assert_eq!(pending_count(&f.db).await.unwrap(), 1);

        // Not due yet: an immediate second pass leaves it alone.
        let sent = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 0);
        assert_eq!(row(&f, &id).await.unwrap().attempts, 1);
    }

    #[tokio::test]
    async fn the_last_allowed_attempt_marks_the_row_failed() {
        let f = fixture().await;
        let id = enqueue(&f.db, &f.cipher, "invitation", &mail())
            .await
            .unwrap();
        let max = f.settings.mail.max_attempts;
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::Attempts, Expr::value(max - 1))
            .filter(mail_outbox::Column::Id.eq(id.clone()))
            .exec(&f.db)
            .await
            .unwrap();

        let transport = dead_smtp(&f);
        deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        let stored = row(&f, &id).await.unwrap();
        assert_eq!(stored.attempts, max);
        assert!(stored.failed);
        assert!(stored.last_error.is_some());
        assert_eq!(pending_count(&f.db).await.unwrap(), 0);

        // A failed row is never claimed again, even once it is due.
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(now()))
            .filter(mail_outbox::Column::Id.eq(id.clone()))
            .exec(&f.db)
            .await
            .unwrap();
        let file = Transport::from_settings(&f.settings).unwrap();
        let sent = deliver_due(&f.db, &f.cipher, &file, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 0);
        assert_eq!(row(&f, &id).await.unwrap().attempts, max);
    }

    #[tokio::test]
    async fn a_live_claim_is_left_alone_and_an_expired_one_is_retried() {
        let f = fixture().await;
        let id = enqueue(&f.db, &f.cipher, "reminder", &mail())
            .await
            .unwrap();
        let transport = Transport::from_settings(&f.settings).unwrap();
        let set_claim = |until| {
            mail_outbox::Entity::update_many()
                .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(until))
                .filter(mail_outbox::Column::Id.eq(id.clone()))
                .exec(&f.db)
        };

        set_claim(now() + chrono::Duration::minutes(5))
            .await
            .unwrap();
        let sent = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 0);
        assert!(row(&f, &id).await.is_some());

        set_claim(now() - chrono::Duration::seconds(1))
            .await
            .unwrap();
        let sent = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 1);
        assert!(row(&f, &id).await.is_none());
    }

    #[tokio::test]
    async fn a_message_that_cannot_be_sent_fails_at_once() {
        let f = fixture().await;
        let bad = OutgoingMail {
            to: "not an address".into(),
            ..mail()
        };
        let id = enqueue(&f.db, &f.cipher, "invitation", &bad).await.unwrap();
        let transport = Transport::from_settings(&f.settings).unwrap();
        let sent = deliver_due(&f.db, &f.cipher, &transport, &f.settings.mail)
            .await
            .unwrap();
        assert_eq!(sent, 0);
        let stored = row(&f, &id).await.unwrap();
        assert!(stored.failed);
        assert_eq!(stored.attempts, 1);
        assert_eq!(stored.last_error.as_deref(), Some("invalid_recipient"));
    }

    #[tokio::test]
    async fn the_background_sender_drains_the_outbox() {
        let f = fixture().await;
        for _ in 0..3 {
            enqueue(&f.db, &f.cipher, "invitation", &mail())
                .await
                .unwrap();
        }
        let transport = Transport::from_settings(&f.settings).unwrap();
        let handle = spawn_sender(
            f.db.clone(),
            f.cipher.clone(),
            transport,
            f.settings.mail.clone(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while pending_count(&f.db).await.unwrap() > 0 {
            assert!(
                Instant::now() < deadline,
                "the sender did not drain the outbox"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        handle.abort();
        let outbox = f.settings.storage.data_dir.join("outbox");
        assert_eq!(std::fs::read_dir(outbox).unwrap().count(), 3);
    }

    #[test]
    fn the_due_rows_are_the_oldest_unclaimed_ones() {
        use sea_orm::{DbBackend, QueryTrait};
        let sql = due_rows(now()).build(DbBackend::Postgres).to_string();
        assert!(sql.contains(r#""claimed_until" IS NULL OR"#), "{sql}");
        assert!(sql.ends_with("LIMIT 20"), "{sql}");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_secs(1), 2);
        assert_eq!(backoff_secs(2), 4);
        assert_eq!(backoff_secs(11), 2048);
        assert_eq!(backoff_secs(12), 3600);
        assert_eq!(backoff_secs(i32::MAX), 3600);
    }
}
