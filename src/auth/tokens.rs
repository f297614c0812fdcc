//! Access tokens (RFC 8725): HS256 only, pinned on decode; `iss`, `aud`, `sub`, `exp`, `iat`,
//! `jti` required; a `typ` of `access` so no other token can stand in for one; the user's
//! `token_version` and the sign-in session id, both checked against the database on every
//! request. Refresh tokens are opaque 256-bit random strings stored only as a SHA-256 hash.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::settings::AuthSettings;

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
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        let data = decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        (data.header.alg == Algorithm::HS256 && data.claims.typ == ACCESS_TYPE)
            .then_some(data.claims)
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
