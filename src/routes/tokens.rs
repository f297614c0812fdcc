//! API tokens: long-lived, scoped credentials for integrations. The secret is shown once and
//! stored as a hash. A token acts for its owner with the owner's rights of the moment, narrowed
//! to its scopes; notes and everything about them stay out of reach (`domain::scopes`).

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Duration, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::AuthUser;
use crate::auth::tokens::hash_opaque;
use crate::domain::scopes::Scope;
use crate::domain::text;
use crate::entities::api_token;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store;

pub const PREFIX: &str = "bct_";

/// Routes under the caller, `/me`: paths here are relative to it.
pub fn me(cfg: &mut ServiceConfig) {
    cfg.service(create_token)
        .service(list_tokens)
        .service(delete_token);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Travel desk", "scopes": ["rounds:read", "participants:read"], "expires_in_days": 90}))]
pub struct CreateToken {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub scopes: Vec<Scope>,
    /// 1–365; 90 by default.
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The secret, shown once: use it as a bearer token.
    pub token: String,
}

fn view(t: api_token::Model) -> TokenView {
    TokenView {
        scopes: t.scopes.split_whitespace().map(str::to_owned).collect(),
        id: t.id,
        name: t.name,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        created_at: t.created_at,
    }
}

/// Only a signed-in person (not another API token) manages tokens.
fn require_session(auth: &AuthUser) -> ApiResult<()> {
    if auth.scopes.is_some() {
        return Err(ApiError::Forbidden("API tokens cannot manage tokens."));
    }
    Ok(())
}

/// Creates an API token; the secret is in the 201 body, once.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[post("/tokens")] // /me/tokens
async fn create_token(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateToken>,
) -> ApiResult<HttpResponse> {
    require_session(&auth)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let name = text::line("name", &body.name, 100)
        .map_err(|e| errors.push(e))
        .ok();
    if body.scopes.is_empty() {
        errors.push(FieldError::new("scopes", "name at least one scope"));
    }
    let days = body.expires_in_days.unwrap_or(90);
    if !(1..=365).contains(&days) {
        errors.push(FieldError::new(
            "expires_in_days",
            "must be between 1 and 365",
        ));
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let mut scopes: Vec<&str> = body.scopes.iter().map(|s| s.as_str()).collect();
    scopes.sort();
    scopes.dedup();
    let secret = format!("{PREFIX}{}", crate::storage::random_b64(32).expose_secret());
    let token = store::api_tokens::create(
        &state.db,
        auth.id(),
        name,
        scopes.join(" "),
        hash_opaque(&secret),
        store::now() + Duration::days(days),
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(CreatedToken {
            view: view(token),
            token: secret,
        }))
}

/// The caller's API tokens, with when each was last used.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<TokenView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[get("/tokens")] // /me/tokens
async fn list_tokens(
    auth: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    require_session(&auth)?;
    let limit = query.limit()?;
    let tokens = store::api_tokens::list(&state.db, auth.id(), query.cursor()?, limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(
        tokens.into_iter().map(view).collect(),
        limit,
        |t| t.id.clone(),
    )))
}

/// Revokes one of the caller's API tokens at once.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    params(("token_id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem))
)]
#[delete("/tokens/{token_id}")] // /me/tokens/{token_id}
async fn delete_token(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    require_session(&auth)?;
    if !store::api_tokens::delete(&state.db, auth.id(), &path).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}
