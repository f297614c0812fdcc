//! Prometheus metrics: request counts and latencies by method and route template (never the
//! concrete path, which holds ids), the depths of the mail outbox and of the webhook
//! deliveries, and the database pool's use.
//! Served at `/metrics` only when `metrics.enabled`, behind `metrics.token` when one is set.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Series>>,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let s = l.entry((method.to_owned(), route.to_owned())).or_default();
            s.count += 1;
            s.sum += secs;
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    s.buckets[i] += 1;
                }
            }
        }
    }

    /// The exposition text, with the gauges the caller measured.
    pub fn render(&self, outbox: Outboxes, pool_size: u32, pool_idle: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP backchannel_http_requests_total HTTP requests by method, route template and status.\n");
        out.push_str("# TYPE backchannel_http_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((m, route, status), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "backchannel_http_requests_total{{method=\"{m}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP backchannel_http_request_duration_seconds Request latency by method and route template.\n");
        out.push_str("# TYPE backchannel_http_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for ((m, route), s) in l.iter() {
                let labels = format!("method=\"{m}\",route=\"{}\"", escape(route));
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "backchannel_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                        s.buckets[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "backchannel_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                    s.count
                );
                let _ = writeln!(
                    out,
                    "backchannel_http_request_duration_seconds_sum{{{labels}}} {}",
                    s.sum
                );
                let _ = writeln!(
                    out,
                    "backchannel_http_request_duration_seconds_count{{{labels}}} {}",
                    s.count
                );
            }
        }
        let _ = write!(
            out,
            "# HELP backchannel_mail_outbox_pending Messages waiting in the mail outbox.\n# TYPE backchannel_mail_outbox_pending gauge\nbackchannel_mail_outbox_pending {}\n\
             # HELP backchannel_webhook_deliveries_pending Webhook deliveries waiting to be sent.\n# TYPE backchannel_webhook_deliveries_pending gauge\nbackchannel_webhook_deliveries_pending {}\n\
             # HELP backchannel_db_pool_connections Database pool connections by state.\n# TYPE backchannel_db_pool_connections gauge\n\
             backchannel_db_pool_connections{{state=\"idle\"}} {pool_idle}\nbackchannel_db_pool_connections{{state=\"in_use\"}} {}\n",
            outbox.mail,
            outbox.webhooks,
            (pool_size as usize).saturating_sub(pool_idle)
        );
        out
    }
}

/// What waits in the background senders' outboxes.
pub struct Outboxes {
    pub mail: u64,
    pub webhooks: u64,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_requests_and_buckets_latencies() {
        let m = Metrics::default();
        m.record(
            "GET",
            "/api/v1/rounds/{round_id}",
            200,
            Duration::from_millis(3),
        );
        m.record(
            "GET",
            "/api/v1/rounds/{round_id}",
            200,
            Duration::from_millis(300),
        );
        let text = m.render(
            Outboxes {
                mail: 2,
                webhooks: 3,
            },
            8,
            6,
        );
        assert!(text.contains("backchannel_http_requests_total{method=\"GET\",route=\"/api/v1/rounds/{round_id}\",status=\"200\"} 2"), "{text}");
        assert!(
            text.contains("le=\"0.005\"} 1")
                && text.contains("le=\"0.5\"} 2")
                && text.contains("le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("backchannel_mail_outbox_pending 2")
                && text.contains("backchannel_webhook_deliveries_pending 3")
                && text.contains("state=\"in_use\"} 2"),
            "{text}"
        );
    }
}
