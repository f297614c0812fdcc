//! The personal calendar feed: a secret URL (calendar clients cannot send headers) listing every
//! round the account takes part in and their timed agenda items, as each round shows them to it.
//! Creating a new URL revokes the previous one. Request logs record the route template only, so
//! the secret in the path never reaches a log line.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access;
use crate::auth::AuthUser;
use crate::auth::tokens::hash_opaque;
use crate::entities::calendar_feed;
use crate::error::{ApiError, ApiResult, Problem};
use crate::startup::AppState;
use crate::store;

/// Routes under the caller, `/me`: paths here are relative to it.
pub fn me(cfg: &mut ServiceConfig) {
    cfg.service(create_feed);
}

/// At the root.
pub fn configure_root(cfg: &mut ServiceConfig) {
    cfg.service(feed_ics);
}

#[derive(Serialize, ToSchema)]
pub struct Feed {
    /// Path of the feed, relative to the service's address; keep it secret.
    pub url: String,
    /// The secret in the URL, shown once.
    pub token: String,
}

/// Creates (or replaces) the caller's calendar-feed URL; an earlier URL stops working.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    responses((status = 201, body = Feed), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[post("/calendar-feed")] // /me/calendar-feed
async fn create_feed(auth: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if auth.scopes.is_some() {
        return Err(ApiError::Forbidden(
            "API tokens cannot create calendar feeds.",
        ));
    }
    let token = crate::storage::random_b64(32);
    let tx = crate::db::begin_write(&state.db).await?;
    calendar_feed::Entity::delete_by_id(auth.id().to_owned())
        .exec(&tx)
        .await?;
    calendar_feed::ActiveModel {
        user_id: Set(auth.id().to_owned()),
        token_hash: Set(hash_opaque(token.expose_secret())),
        created_at: Set(store::now()),
    }
    .insert(&tx)
    .await?;
    tx.commit().await?;
    let token = token.expose_secret().to_owned();
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Feed {
            url: format!("/calendar/{token}.ics"),
            token,
        }))
}

/// The feed itself: every round of the account and its timed items, as iCalendar.
#[utoipa::path(
    tag = "calendar",
    params(("feed_token" = String, Path, description = "The secret from POST /api/v1/me/calendar-feed")),
    responses((status = 200, description = "text/calendar", content_type = "text/calendar"), (status = 404, body = Problem))
)]
#[get("/calendar/{feed_token}.ics")]
async fn feed_ics(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let token = path.into_inner();
    if token.len() > 100 {
        return Err(ApiError::NotFound);
    }
    let feed = calendar_feed::Entity::find()
        .filter(calendar_feed::Column::TokenHash.eq(hash_opaque(&token)))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let user = store::users::find(&state.db, &feed.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ApiError::NotFound)?;
    let auth = AuthUser {
        user,
        session_id: String::new(),
        scopes: None,
    };
    let mut rounds = Vec::new();
    for m in store::participants::memberships(&state.db, auth.id()).await? {
        let Ok(access) = access::round(&state.reader, &auth, &m.round_id).await else {
            continue;
        };
        rounds.push(crate::routes::agenda::calendar_entries(&state, &access).await?);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/calendar; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(crate::calendar::feed_calendar("backchannel", &rounds)))
}
