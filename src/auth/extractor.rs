//! The signed-in user as a handler argument. Everything that decides access is read from the
//! database on every request: the account (disabled? token version?) and the session (revoked?).
//! Round roles are never taken from the token.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::auth::tokens::AccessClaims;
use crate::domain::scopes::Scope;
use crate::entities::{session, user};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;

pub struct AuthUser {
    pub user: user::Model,
    /// The sign-in session, for session tokens; empty for API tokens.
    pub session_id: String,
    /// `Some` when the request came with an API token: its scopes.
    pub scopes: Option<Vec<Scope>>,
}

impl AuthUser {
    pub fn id(&self) -> &str {
        &self.user.id
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credential = Credential::of(req);
        Box::pin(async move {
            let state = state.ok_or(ApiError::Internal)?;
            match credential.ok_or(ApiError::Unauthorized)? {
                Credential::ApiToken {
                    token,
                    method,
                    pattern,
                } => api_token(&state, &token, &method, pattern.as_deref()).await,
                Credential::Session(token) => {
                    let claims = state.tokens.verify(&token).ok_or(ApiError::Unauthorized)?;
                    let (user, session) = store::sessions::find_user_and_session(
                        &state.reader,
                        &claims.sub,
                        &claims.sid,
                    )
                    .await?
                    .ok_or(ApiError::Unauthorized)?;
                    signed_in(&claims, user, session)
                }
            }
        })
    }
}

/// How a request authenticates: its bearer token, and for an API token the route the token's
/// scopes must cover.
pub(crate) enum Credential {
    Session(String),
    ApiToken {
        token: String,
        method: String,
        pattern: Option<String>,
    },
}

impl Credential {
    /// `None` without a bearer token (a 401).
    pub(crate) fn of(req: &HttpRequest) -> Option<Self> {
        let token = bearer(req)?;
        // The route's pattern is needed only for API tokens, whose scopes are checked against
        // it; session tokens skip the lookup.
        Some(if token.starts_with(crate::routes::tokens::PREFIX) {
            Credential::ApiToken {
                token,
                method: req.method().to_string(),
                pattern: req.match_pattern(),
            }
        } else {
            Credential::Session(token)
        })
    }
}

/// The account of a verified session token, if the account and the session are still good:
/// the account enabled and its tokens not invalidated since, the session neither revoked nor
/// expired.
pub(crate) fn signed_in(
    claims: &AccessClaims,
    user: user::Model,
    session: session::Model,
) -> Result<AuthUser, ApiError> {
    if user.disabled
        || user.token_version != claims.ver
        || session.revoked_at.is_some()
        || session.expires_at <= chrono::Utc::now()
    {
        return Err(ApiError::Unauthorized);
    }
    Ok(AuthUser {
        user,
        session_id: session.id,
        scopes: None,
    })
}

/// An API token: valid, unexpired, its owner active, and its scopes covering the route. Routes
/// the scope table does not list (notes above all) are refused whatever the scopes.
pub(crate) async fn api_token(
    state: &AppState,
    token: &str,
    method: &str,
    pattern: Option<&str>,
) -> Result<AuthUser, ApiError> {
    let found =
        store::api_tokens::find_by_hash(&state.db, &crate::auth::tokens::hash_opaque(token))
            .await?
            .filter(|t| t.expires_at > chrono::Utc::now())
            .ok_or(ApiError::Unauthorized)?;
    let user = store::users::find(&state.db, &found.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::Unauthorized)?;
    let scopes: Vec<Scope> = found
        .scopes
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let needed = pattern.and_then(|p| crate::domain::scopes::required(method, p));
    match needed {
        Some(scope) if scopes.contains(&scope) => {}
        _ => {
            return Err(ApiError::Forbidden(
                "This API token's scopes do not cover this request.",
            ));
        }
    }
    store::api_tokens::touch(&state.db, &found).await?;
    Ok(AuthUser {
        user,
        session_id: String::new(),
        scopes: Some(scopes),
    })
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}
