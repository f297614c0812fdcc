//! Access tokens (RFC 8725): HS256 only, pinned on decode; `iss`, `aud`, `sub`, `exp`, `iat`,
//! `jti` required; a `typ` of `access` so no other token can stand in for one; the user's
//! `token_version` and the sign-in session id, both checked against the database on every
//! request. Refresh tokens are opaque 256-bit random strings stored only as a SHA-256 hash.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kept::Kept;
use crate::settings::AuthSettings;

/// Access tokens whose signature and claims were checked, kept so that the next request with
/// the same token skips the HMAC and the JSON (a bearer token is sent with every request until
/// it expires). Bounded: the map starts again when it holds this many.
const VERIFIED_KEPT: usize = 1024;

pub const ACCESS_TYPE: &str = "access";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The sign-in session (refresh-token family) this token belongs to.
    pub sid: String,
    /// The user's `token_version` when the token was issued.
    pub ver: i64,
    pub typ: String,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl_secs: i64,
    /// Verified tokens, by their exact text. Only a token that passed `decode` is ever put
    /// here, so a lookup can only answer for a token already proved genuine; the session and
    /// the account behind it are still read from the database on every request.
    verified: Arc<Kept<AccessClaims>>,
}

impl TokenKeys {
    pub fn new(secret: &SecretSlice<u8>, settings: &AuthSettings) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.expose_secret())
                .map_err(|e| e.to_string())?,
            decoding: DecodingKey::from_secret(secret.expose_secret())
                .map_err(|e| e.to_string())?,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl_secs: settings.access_token_ttl_secs,
            verified: Arc::new(Kept::new(VERIFIED_KEPT)),
        })
    }

    pub fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        token_version: i64,
    ) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            exp: now + self.access_ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: session_id.to_owned(),
            ver: token_version,
            typ: ACCESS_TYPE.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The claims of a valid access token, or `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Arc<AccessClaims>> {
        let now = chrono::Utc::now().timestamp();
        // A kept token is taken only while it is unexpired outright (no leeway); after that it
        // is checked in full again, and refused once past the leeway.
        if let Some(claims) = self.verified.get(token, 0).filter(|c| c.exp > now) {
            return Some(claims);
        }
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        if data.header.alg != Algorithm::HS256 || data.claims.typ != ACCESS_TYPE {
            return None;
        }
        let claims = Arc::new(data.claims);
        self.verified.put(token, 0, Arc::clone(&claims));
        Some(claims)
    }
}

/// A new opaque secret (256 bits, URL-safe) and the hash under which it is stored.
pub fn new_opaque_token() -> (SecretString, String) {
    let token = crate::storage::random_b64(32);
    let hash = hash_opaque(token.expose_secret());
    (token, hash)
}

pub fn hash_opaque(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn keys() -> TokenKeys {
        TokenKeys::new(&SecretSlice::from(vec![7u8; 32]), &keys_settings()).unwrap()
    }

    /// A token checked once is answered from the kept map the next time, with the same claims;
    /// a token that differs from it by one character is still checked in full and refused.
    #[test]
    fn a_kept_token_answers_only_for_its_exact_text() {
        let keys = keys();
        let token = keys.issue("u1", "s1", 3).unwrap();
        let first = keys.verify(&token).expect("a genuine token");
        let again = keys.verify(&token).expect("kept");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second check is the kept one"
        );
        assert_eq!(
            (again.sub.as_str(), again.sid.as_str(), again.ver),
            ("u1", "s1", 3)
        );

        let (head, sig) = token.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{head}.{flipped}{}", &sig[1..]);
        assert!(keys.verify(&forged).is_none(), "a changed signature");
        let other = TokenKeys::new(&SecretSlice::from(vec![8u8; 32]), &keys_settings()).unwrap();
        assert!(
            other.verify(&token).is_none(),
            "another key's map knows nothing of it"
        );
    }

    /// A token past its expiry (and the leeway) is refused, and so never kept.
    #[test]
    fn an_expired_token_is_refused_and_not_kept() {
        let mut settings = keys_settings();
        settings.access_token_ttl_secs = -120;
        let keys = TokenKeys::new(&SecretSlice::from(vec![7u8; 32]), &settings).unwrap();
        let token = keys.issue("u1", "s1", 0).unwrap();
        assert!(keys.verify(&token).is_none());
        assert_eq!(keys.verified.len(), 0);
    }

    fn keys_settings() -> AuthSettings {
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        Settings::load_files(&config, Some("test")).unwrap().auth
    }
}
