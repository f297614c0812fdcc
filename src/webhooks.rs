//! Webhook delivery: a background sender that drains `webhook_deliveries`.
//!
//! Guarantees:
//!
//! * **Nothing is lost.** Events are queued in the transaction of the change they report
//!   (`store::webhooks::emit`); a restart or a receiver outage leaves the row for a later pass.
//!   Delivery is at least once: a node that dies between the receiver's answer and recording it
//!   sends again after its claim expires, with the same event id, so receivers de-duplicate.
//! * **One node at a time.** Due rows are claimed for a while before they are sent
//!   ([`crate::outbox::claim`], `FOR UPDATE SKIP LOCKED` on PostgreSQL).
//! * **Signed.** Each request carries `Backchannel-Signature: t=…,v1=…` (HMAC-SHA256 with the
//!   webhook's secret over `"<t>.<body>"`), `Backchannel-Event-Id` and `Backchannel-Event`.
//! * **Never inward.** With `webhooks.allow_private_destinations` off, every address a host name
//!   resolves to is checked at each delivery (not only when the webhook was created), literal
//!   addresses too, and redirects are not followed, so a receiver cannot bounce us inward.
//! * **Polite retries.** A non-2xx answer or a network failure is retried after
//!   `backoff_base_ms × 2^(attempts-1)`, capped at one hour; after `max_attempts` the delivery
//!   is marked failed and stays listed.
//! * **Quiet logs.** Log lines carry the delivery id, the webhook id, the event type and the
//!   status or a short error kind: never the URL (it may embed a receiver's secret) or the body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::crypto::Cipher;
use crate::domain::webhooks::{self, DestinationPolicy};
use crate::entities::{webhook, webhook_delivery};
use crate::settings::WebhookSettings;
use crate::store::now;
use crate::store::webhooks::{DELIVERED, FAILED, PENDING};

/// Rows claimed and sent per pass.
const BATCH: u64 = 20;
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: u64 = 3_600_000;

/// Resolves host names for deliveries, keeping only public addresses unless inward ones are
/// allowed. A name with no address left fails the request before any connection is made.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || webhooks::is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err("the destination resolves to no public address".into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The sender's HTTP client and the destination rules.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: DestinationPolicy,
}

impl Sender {
    pub fn new(settings: &WebhookSettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.allow_private_destinations,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(settings.timeout_secs))
            .timeout(Duration::from_secs(settings.timeout_secs))
            .user_agent(concat!("backchannel-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| "webhooks: cannot build the HTTP client".to_owned())?;
        Ok(Self {
            client,
            policy: settings.destination_policy(),
        })
    }

    /// One signed POST. `Ok(status)` for any answer; the caller decides what counts.
    async fn post(
        &self,
        hook: &webhook::Model,
        secret: &[u8],
        row: &webhook_delivery::Model,
    ) -> Result<u16, Failure> {
        // Checked again at every delivery, literal addresses included: the rules or the
        // settings may have changed. Names are checked address by address by the resolver.
        let destination = webhooks::Destination::parse(&hook.url, self.policy)
            .map_err(|_| Failure::permanent("destination_not_allowed"))?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = webhooks::signature(secret, timestamp, row.payload.as_bytes());
        let response = self
            .client
            .post(destination.url().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Backchannel-Signature", signature)
            .header("Backchannel-Event-Id", &row.event_id)
            .header("Backchannel-Event", &row.event)
            .header("Backchannel-Delivery", &row.id)
            .body(row.payload.clone())
            .send()
            .await
            .map_err(|e| Failure::retry(request_error_kind(&e)))?;
        // The answer's body is not read: nothing in it matters, and it may be large.
        Ok(response.status().as_u16())
    }
}

fn request_error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        // Includes a name that resolves to no allowed address.
        "connect"
    } else if e.is_request() {
        "request"
    } else {
        "transport"
    }
}

/// Why one attempt failed, in words that carry no content.
struct Failure {
    kind: &'static str,
    status: Option<u16>,
    /// Retrying cannot help: the row is marked failed at once.
    permanent: bool,
}

impl Failure {
    fn retry(kind: &'static str) -> Self {
        Self {
            kind,
            status: None,
            permanent: false,
        }
    }

    fn permanent(kind: &'static str) -> Self {
        Self {
            kind,
            status: None,
            permanent: true,
        }
    }
}

/// Rows that may be claimed now.
fn due(now: chrono::DateTime<chrono::Utc>) -> Condition {
    Condition::all()
        .add(webhook_delivery::Column::State.eq(PENDING))
        .add(webhook_delivery::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(webhook_delivery::Column::ClaimedUntil.is_null())
                .add(webhook_delivery::Column::ClaimedUntil.lte(now)),
        )
}

/// The oldest due rows.
fn due_rows(now: chrono::DateTime<chrono::Utc>) -> sea_orm::Select<webhook_delivery::Entity> {
    webhook_delivery::Entity::find()
        .filter(due(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .order_by_asc(webhook_delivery::Column::Id)
        .limit(BATCH)
}

/// How long a claim keeps other senders off a row: long enough for a whole batch to time out.
fn claim_secs(settings: &WebhookSettings) -> i64 {
    (settings.timeout_secs * BATCH * 2) as i64
}

async fn claim_due(
    db: &DatabaseConnection,
    settings: &WebhookSettings,
) -> Result<Option<(chrono::DateTime<chrono::Utc>, Vec<webhook_delivery::Model>)>, DbErr> {
    crate::outbox::claim(
        db,
        due_rows,
        crate::outbox::Columns {
            id: webhook_delivery::Column::Id,
            claimed_until: webhook_delivery::Column::ClaimedUntil,
            id_of: |r| r.id.clone(),
        },
        chrono::Duration::seconds(claim_secs(settings)),
    )
    .await
}

fn backoff_ms(settings: &WebhookSettings, attempts: i32) -> u64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    settings
        .backoff_base_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// Records the outcome of an attempt on a row this pass still holds.
async fn record(
    db: &DatabaseConnection,
    row: &webhook_delivery::Model,
    claimed_until: chrono::DateTime<chrono::Utc>,
    outcome: Result<u16, Failure>,
    settings: &WebhookSettings,
) -> Result<bool, DbErr> {
    let attempts = row.attempts.saturating_add(1);
    let now = now();
    let none_time = Option::<chrono::DateTime<chrono::Utc>>::None;
    let mut update = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Attempts, Expr::value(attempts))
        .col_expr(
            webhook_delivery::Column::ClaimedUntil,
            Expr::value(none_time),
        )
        .filter(webhook_delivery::Column::Id.eq(row.id.clone()))
        .filter(webhook_delivery::Column::ClaimedUntil.eq(claimed_until));
    let failure = match outcome {
        Ok(status) if (200..300).contains(&status) => None,
        Ok(status) => Some(Failure {
            kind: "http_status",
            status: Some(status),
            permanent: false,
        }),
        Err(f) => Some(f),
    };
    let delivered = failure.is_none();
    match &failure {
        None => {
            update = update
                .col_expr(webhook_delivery::Column::State, Expr::value(DELIVERED))
                .col_expr(
                    webhook_delivery::Column::DeliveredAt,
                    Expr::value(Some(now)),
                )
                .col_expr(
                    webhook_delivery::Column::LastError,
                    Expr::value(Option::<String>::None),
                );
        }
        Some(f) => {
            let failed = f.permanent || attempts >= settings.max_attempts;
            let next = now + chrono::Duration::milliseconds(backoff_ms(settings, attempts) as i64);
            update = update
                .col_expr(
                    webhook_delivery::Column::State,
                    Expr::value(if failed { FAILED } else { PENDING }),
                )
                .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
                .col_expr(
                    webhook_delivery::Column::LastError,
                    Expr::value(Some(f.kind.to_owned())),
                );
        }
    }
    let status = match &failure {
        None => None,
        Some(f) => f.status,
    };
    update = update.col_expr(
        webhook_delivery::Column::LastStatus,
        Expr::value(status.map(i32::from)),
    );
    let updated = update.exec(db).await?;
    let (delivery_id, webhook_id, event) = (&row.id, &row.webhook_id, &row.event);
    if updated.rows_affected == 0 {
        tracing::warn!(%delivery_id, %webhook_id, "webhook claim lapsed before the outcome was recorded");
    } else if let Some(f) = failure {
        tracing::warn!(%delivery_id, %webhook_id, %event, error = f.kind, status = f.status, attempts, "webhook delivery failed");
    } else {
        tracing::info!(%delivery_id, %webhook_id, %event, attempts, "webhook delivered");
    }
    Ok(delivered)
}

/// One pass: claim up to [`BATCH`] due deliveries, send each, record the outcome. Returns how
/// many were delivered and how many were claimed.
pub async fn deliver_due(
    db: &DatabaseConnection,
    cipher: &Cipher,
    sender: &Sender,
    settings: &WebhookSettings,
) -> Result<(usize, usize), DbErr> {
    let Some((claimed_until, rows)) = claim_due(db, settings).await? else {
        return Ok((0, 0));
    };
    // The batch's webhooks in one query: a batch is often one webhook's backlog.
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.webhook_id.as_str()).collect();
    let hooks: std::collections::HashMap<String, webhook::Model> = webhook::Entity::find()
        .filter(webhook::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect();
    let mut delivered = 0;
    for row in &rows {
        let outcome = match hooks.get(&row.webhook_id) {
            // Deleted meanwhile: its deliveries go with it.
            None => continue,
            Some(hook) => {
                match cipher.open(&hook.key_id, &hook.secret_sealed, hook.id.as_bytes()) {
                    Ok(secret) => sender.post(hook, &secret, row).await,
                    Err(crate::crypto::CryptoError::UnknownKey) => {
                        Err(Failure::retry("unknown_key"))
                    }
                    Err(crate::crypto::CryptoError::Corrupt) => Err(Failure::permanent("corrupt")),
                }
            }
        };
        if record(db, row, claimed_until, outcome, settings).await? {
            delivered += 1;
        }
    }
    Ok((delivered, rows.len()))
}

/// Spawns the sender loop. After a pass that claimed a whole batch the next starts at once.
pub fn spawn_sender(
    db: DatabaseConnection,
    cipher: Cipher,
    sender: Sender,
    settings: WebhookSettings,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pause = Duration::from_millis(settings.poll_interval_ms);
        loop {
            let busy = match deliver_due(&db, &cipher, &sender, &settings).await {
                Ok((_, claimed)) => claimed as u64 >= BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook sender pass failed");
                    false
                }
            };
            if !busy {
                tokio::time::sleep(pause).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings {
            allow_private_destinations: false,
            allow_http: false,
            poll_interval_ms: 1000,
            max_attempts: 10,
            backoff_base_ms: 10_000,
            timeout_secs: 10,
            retention_days: 30,
        }
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let s = settings();
        assert_eq!(backoff_ms(&s, 1), 10_000);
        assert_eq!(backoff_ms(&s, 2), 20_000);
        assert_eq!(backoff_ms(&s, 3), 40_000);
        assert_eq!(backoff_ms(&s, 9), 2_560_000);
        assert_eq!(backoff_ms(&s, 10), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(&s, i32::MAX), MAX_BACKOFF_MS);
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_point_inward() {
        let strict = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(strict.resolve(name).await.is_err());
        let lax = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = lax.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
