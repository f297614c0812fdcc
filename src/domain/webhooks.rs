//! Webhooks as pure rules: the events a dialogue's webhook may subscribe to, which destinations
//! are acceptable, and the request signature.
//!
//! Destinations: `https` (plain `http` only when the setting allows it), no credentials in the
//! URL, and never an address inside this network (loopback, private, link-local — where cloud
//! metadata services live —, carrier-grade NAT, multicast, reserved) unless the setting
//! `webhooks.allow_private_destinations` says so. A host name is checked again at delivery, on
//! every address it resolves to, so a name that later points inward is refused then.
//!
//! Signature: `Backchannel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! as receivers of Stripe-style signatures expect: the timestamp inside the signed text lets a
//! receiver refuse replays of old requests.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::{Host, Url};

use crate::error::FieldError;

/// What a webhook can be told about. Payloads carry ids and non-confidential fields only.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[schema(as = WebhookEvent)]
pub enum Event {
    #[serde(rename = "round.created")]
    RoundCreated,
    #[serde(rename = "round.updated")]
    RoundUpdated,
    #[serde(rename = "round.status_changed")]
    RoundStatusChanged,
    #[serde(rename = "invitation.accepted")]
    InvitationAccepted,
    #[serde(rename = "invitation.declined")]
    InvitationDeclined,
    #[serde(rename = "agenda.published")]
    AgendaPublished,
    #[serde(rename = "statement.adopted")]
    StatementAdopted,
    /// Sent by `POST /webhooks/{id}/test` only; not subscribable.
    #[serde(rename = "webhook.test")]
    Test,
}

impl Event {
    /// The events a webhook may subscribe to.
    pub const SUBSCRIBABLE: [Event; 7] = [
        Event::RoundCreated,
        Event::RoundUpdated,
        Event::RoundStatusChanged,
        Event::InvitationAccepted,
        Event::InvitationDeclined,
        Event::AgendaPublished,
        Event::StatementAdopted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::RoundCreated => "round.created",
            Event::RoundUpdated => "round.updated",
            Event::RoundStatusChanged => "round.status_changed",
            Event::InvitationAccepted => "invitation.accepted",
            Event::InvitationDeclined => "invitation.declined",
            Event::AgendaPublished => "agenda.published",
            Event::StatementAdopted => "statement.adopted",
            Event::Test => "webhook.test",
        }
    }
}

impl FromStr for Event {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Event::SUBSCRIBABLE
            .into_iter()
            .chain([Event::Test])
            .find(|e| e.as_str() == s)
            .ok_or(())
    }
}

/// A non-empty, duplicate-free set of subscribable events, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events(Vec<Event>);

impl Events {
    pub fn parse(values: &[String]) -> Result<Self, FieldError> {
        if values.is_empty() {
            return Err(FieldError::new("events", "must name at least one event"));
        }
        if values.len() > Event::SUBSCRIBABLE.len() {
            return Err(FieldError::new("events", "names an event more than once"));
        }
        let mut events = Vec::with_capacity(values.len());
        for v in values {
            match v.parse::<Event>() {
                Ok(e) if Event::SUBSCRIBABLE.contains(&e) => events.push(e),
                _ => {
                    return Err(FieldError::new(
                        "events",
                        format!(
                            "must be among {}",
                            Event::SUBSCRIBABLE.map(Event::as_str).join(", ")
                        ),
                    ));
                }
            }
        }
        events.sort();
        let before = events.len();
        events.dedup();
        if events.len() != before {
            return Err(FieldError::new("events", "names an event more than once"));
        }
        Ok(Self(events))
    }

    /// The stored form: comma-separated. Unknown names (from a later version) are skipped.
    pub fn from_stored(stored: &str) -> Self {
        let mut events: Vec<Event> = stored.split(',').filter_map(|e| e.parse().ok()).collect();
        events.sort();
        events.dedup();
        Self(events)
    }

    pub fn to_stored(&self) -> String {
        self.names().join(",")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.as_str()).collect()
    }

    pub fn contains(&self, event: Event) -> bool {
        self.0.contains(&event)
    }
}

/// What the destination rules allow (from settings).
#[derive(Debug, Clone, Copy)]
pub struct DestinationPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// The longest destination URL.
pub const URL_MAX_CHARS: usize = 2000;

/// A destination URL that passed the rules known without a DNS lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination(Url);

impl Destination {
    pub fn parse(value: &str, policy: DestinationPolicy) -> Result<Self, FieldError> {
        let bad = |m: &str| FieldError::new("url", m);
        if value.chars().count() > URL_MAX_CHARS {
            return Err(bad("must be at most 2000 characters"));
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("must not contain spaces or control characters"));
        }
        let url = Url::parse(value).map_err(|_| bad("must be an absolute http(s) URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            "http" => return Err(bad("must use https")),
            _ => return Err(bad("must be an absolute http(s) URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "must not carry credentials; the signature authenticates us",
            ));
        }
        if url.fragment().is_some() {
            return Err(bad("must not have a fragment"));
        }
        let inward = match url.host() {
            None => return Err(bad("must name a host")),
            Some(Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost") || !name.contains('.')
            }
        };
        if inward && !policy.allow_private {
            return Err(bad(
                "must be a public destination, not an address inside this network",
            ));
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), multicast, broadcast, documentation, benchmarking or otherwise reserved.
/// IPv4-mapped and -compatible IPv6 addresses are judged by their IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // ::/96 (IPv4-compatible, deprecated), including :: and ::1.
            if s[..6].iter().all(|&x| x == 0) {
                return false;
            }
            let inward = v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
                || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: may reach an inward IPv4
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
                || s[0] == 0x2002; // 6to4: embeds an IPv4 address
            !inward
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let inward = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // 0.0.0.0/8 "this network"
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10 shared address space
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24 protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || a >= 240; // 240.0.0.0/4 reserved
    !inward
}

/// The `Backchannel-Signature` header value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: DestinationPolicy = DestinationPolicy {
        allow_http: false,
        allow_private: false,
    };
    const LAX: DestinationPolicy = DestinationPolicy {
        allow_http: true,
        allow_private: true,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inward_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.1.1",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must count as inward");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn destinations_must_be_https_public_and_without_credentials() {
        assert!(Destination::parse("https://hooks.example.org/backchannel?x=1", STRICT).is_ok());
        for bad in [
            "http://hooks.example.org/",
            "ftp://hooks.example.org/",
            "https://user:pw@hooks.example.org/",
            "https://user@hooks.example.org/",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/",
            "https://localhost/hook",
            "https://api.localhost/hook",
            "https://intranet/hook",
            "https://0x7f000001/hook",
            "https://2130706433/hook",
            "https://hooks.example.org/#frag",
            "not a url",
            "/relative",
            "https://hooks.example.org/ space",
        ] {
            let e = Destination::parse(bad, STRICT).expect_err(bad);
            assert_eq!(e.field, "url");
        }
        let long = format!("https://hooks.example.org/{}", "a".repeat(URL_MAX_CHARS));
        assert!(Destination::parse(&long, STRICT).is_err());
    }

    #[test]
    fn the_lax_policy_admits_plain_http_on_loopback() {
        assert!(Destination::parse("http://127.0.0.1:9000/hook", LAX).is_ok());
        assert!(Destination::parse("https://u:p@127.0.0.1/", LAX).is_err());
    }

    #[test]
    fn events_parse_sorted_and_unique() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let events = Events::parse(&names(&["round.updated", "round.created"])).unwrap();
        assert_eq!(events.to_stored(), "round.created,round.updated");
        assert_eq!(Events::from_stored(&events.to_stored()), events);
        assert!(Events::parse(&[]).is_err());
        assert!(Events::parse(&names(&["round.created", "round.created"])).is_err());
        assert!(Events::parse(&names(&["webhook.test"])).is_err());
        assert!(Events::parse(&names(&["note.created"])).is_err());
        assert!(Events::from_stored("round.created,later.event").contains(Event::RoundCreated));
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231 style check computed independently: HMAC-SHA256("key", "1.{}").
        let sig = signature(b"key", 1, b"{}");
        assert!(sig.starts_with("t=1,v1="), "{sig}");
        assert_eq!(sig.len(), "t=1,v1=".len() + 64);
        assert_ne!(sig, signature(b"key", 2, b"{}"));
        assert_ne!(sig, signature(b"other", 1, b"{}"));
        assert_ne!(sig, signature(b"key", 1, b"{ }"));
        // The well-known HMAC-SHA256 test vector (RFC 4231, case 2) through the same code path.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
