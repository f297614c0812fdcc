//! Sign-in: login, refresh-token rotation and logout.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::tokens::{hash_opaque, new_opaque_token};
use crate::domain::account::email_key;
use crate::entities::user;
use crate::error::{ApiError, ApiResult, Problem};
use crate::startup::AppState;
use crate::store::sessions::Rotation;
use crate::{db, ratelimit, store};

/// Routes at the top of `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(login).service(refresh).service(logout);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "organizer@example.org", "password": "a long passphrase"}))]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "the refresh token from login"}))]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh_token: SecretString,
}

/// An access token (bearer, short-lived) and the refresh token that renews it (once).
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub refresh_token: String,
}

/// Exchanges an email and password for a token pair.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenPair),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 415, body = Problem), (status = 429, body = Problem)
    )
)]
#[post("/auth/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let key = email_key(&body.email);
    if let Some(ip) = ratelimit::client_ip(&req, &state.settings.http.trusted_proxies) {
        state.limits.login_ip.check(&ip.to_string())?;
    }
    state.limits.login_account.check(&key)?;
    if key.chars().count() > 254 || !state.passwords.is_acceptable_length(&body.password) {
        return Err(ApiError::InvalidCredentials);
    }

    let account = store::users::find_by_email_key(&state.db, &key).await?;
    let stored = account.as_ref().map(|u| u.password_hash.clone());
    let verified = state
        .passwords
        .verify(body.password.clone(), stored)
        .await?;
    let user = match account {
        Some(user) if verified.ok && !user.disabled => user,
        _ => {
            tracing::info!("login refused");
            return Err(ApiError::InvalidCredentials);
        }
    };
    if verified.needs_rehash {
        let hash = state.passwords.hash(body.password).await?;
        store::users::set_password_hash(&state.db, &user.id, hash).await?;
    }
    let pair = start_session(&state, &user).await?;
    Ok(token_response(pair))
}

/// Opens a sign-in session for `user` and returns its first token pair.
pub async fn start_session(state: &AppState, user: &user::Model) -> ApiResult<TokenPair> {
    let (refresh_secret, refresh_hash) = new_opaque_token();
    let ttl = chrono::Duration::days(state.settings.auth.refresh_token_ttl_days);
    let session = store::sessions::create(&state.db, &user.id, ttl, refresh_hash).await?;
    pair(state, user, &session.id, refresh_secret)
}

fn pair(
    state: &AppState,
    user: &user::Model,
    session_id: &str,
    refresh_secret: SecretString,
) -> ApiResult<TokenPair> {
    let access = state
        .tokens
        .issue(&user.id, session_id, user.token_version)
        .map_err(|e| ApiError::internal("token", e))?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl_secs,
        refresh_token: refresh_secret.expose_secret().to_owned(),
    })
}

pub fn token_response(pair: TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(pair)
}

/// Spends a refresh token for a new pair. A refresh token works once: presenting it again
/// revokes the whole sign-in session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 400, body = Problem), (status = 401, body = Problem))
)]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let presented = hash_opaque(body.refresh_token.expose_secret());
    let (next, next_hash) = new_opaque_token();
    let tx = db::begin_write(&state.db).await?;
    let rotation = store::sessions::rotate(&tx, &presented, next_hash).await?;
    tx.commit().await?;
    let Rotation::Rotated { session } = rotation else {
        tracing::info!("refresh refused");
        return Err(ApiError::Unauthorized);
    };
    let user = store::users::find(&state.db, &session.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if user.disabled {
        return Err(ApiError::Unauthorized);
    }
    Ok(token_response(pair(&state, &user, &session.id, next)?))
}

/// Ends the sign-in session the refresh token belongs to; its access tokens stop working.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for an unknown token)"), (status = 400, body = Problem))
)]
#[post("/auth/logout")]
async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let presented = hash_opaque(body.refresh_token.expose_secret());
    if let Some(session_id) = store::sessions::session_of_refresh(&state.db, &presented).await? {
        store::sessions::revoke(&state.db, &session_id).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}
