//! Account administration (platform admins only). Admins manage accounts; they see no dialogue
//! content unless they are members themselves.

use actix_web::{HttpResponse, get, patch, post, web};
use sea_orm::{IntoActiveModel, Set};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access;
use crate::auth::AuthUser;
use crate::domain::account::NewAccount;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::me::Account;
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::{db, store};

/// Routes at the top of `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_user)
        .service(list_users)
        .service(patch_user);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "organizer@example.org", "display_name": "Meera Rao",
    "affiliation": "Convening Institute", "password": "a long organizer passphrase", "is_admin": false
}))]
pub struct CreateUser {
    pub email: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub affiliation: Option<String>,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"disabled": true}))]
pub struct PatchUser {
    /// A disabled account cannot sign in, and its tokens stop working at once.
    pub disabled: Option<bool>,
    pub is_admin: Option<bool>,
}

/// Creates an account (organizers are created this way).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, body = Account), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem)
    )
)]
#[post("/users")]
async fn create_user(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    access::require_admin(&auth)?;
    let body = body.into_inner();
    let account = NewAccount::parse(
        &body.email,
        &body.display_name,
        body.affiliation.as_deref(),
        body.is_admin,
    )?;
    state.passwords.check_policy("password", &body.password)?;
    let hash = state.passwords.hash(body.password).await?;
    let user = store::users::create(&state.db, account, hash).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(Account::from(user)))
}

/// Lists accounts, by id.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Page<Account>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem))
)]
#[get("/users")]
async fn list_users(
    auth: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    access::require_admin(&auth)?;
    let limit = query.limit()?;
    let users = store::users::list(&state.db, query.cursor()?, limit).await?;
    let page = Page::new(users.into_iter().map(Account::from).collect(), limit, |a| {
        a.id.clone()
    });
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(page))
}

/// Disables or re-enables an account, or changes its admin flag.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("user_id" = String, Path)),
    request_body = PatchUser,
    responses(
        (status = 200, body = Account), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)
    )
)]
#[patch("/users/{user_id}")]
async fn patch_user(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<PatchUser>,
) -> ApiResult<HttpResponse> {
    access::require_admin(&auth)?;
    let body = body.into_inner();
    let user_id = path.into_inner();
    if user_id == auth.user.id && (body.disabled == Some(true) || body.is_admin == Some(false)) {
        return Err(ApiError::conflict(
            "self_lockout",
            "An admin cannot disable or demote their own account.",
        ));
    }
    let tx = db::begin_write(&state.db).await?;
    let user = store::users::find(&tx, &user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let revoke = body.disabled == Some(true) && !user.disabled;
    let mut model = user.into_active_model();
    if let Some(disabled) = body.disabled {
        model.disabled = Set(disabled);
    }
    if let Some(is_admin) = body.is_admin {
        model.is_admin = Set(is_admin);
    }
    let mut user = store::users::update(&tx, model).await?;
    if revoke {
        store::users::bump_token_version(&tx, &user.id).await?;
        store::sessions::revoke_all_for_user(&tx, &user.id).await?;
        user.token_version += 1;
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Account::from(user)))
}
