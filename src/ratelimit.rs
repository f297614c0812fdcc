//! Per-address and per-account quotas for the routes that guess secrets (login, invitation
//! tokens). The client address is the TCP peer; `X-Forwarded-For` is believed only when the
//! peer is a configured trusted proxy, and then only its right-most untrusted entry.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpRequest;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

pub struct Limiter {
    inner: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            inner: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Counts one attempt for `key`; 429 with `Retry-After` once the quota is spent.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.inner.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// Forgets keys whose quota has refilled, bounding memory.
    pub fn shrink(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }
}

/// The address to rate-limit on.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let Some(forwarded) = forwarded else {
        return Some(peer);
    };
    forwarded
        .split(',')
        .rev()
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted_proxies.contains(ip))
        .or(Some(peer))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_spoofed_forwarded_for_is_ignored_from_an_untrusted_peer() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.5:1234".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .to_http_request();
        assert_eq!(client_ip(&req, &[]), Some("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn a_trusted_proxy_forwards_the_rightmost_untrusted_address() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:1234".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 1.2.3.4"))
            .to_http_request();
        assert_eq!(client_ip(&req, &[proxy]), Some("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn the_quota_runs_out_and_says_when_to_retry() {
        let limiter = Limiter::per_minute(2);
        assert!(limiter.check("k").is_ok());
        assert!(limiter.check("k").is_ok());
        match limiter.check("k") {
            Err(ApiError::TooManyRequests { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("{other:?}"),
        }
        assert!(limiter.check("other").is_ok());
    }
}
