//! The signed-in user's own account.

use actix_web::{HttpResponse, get, patch, post, web};
use sea_orm::{IntoActiveModel, Set};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::AuthUser;
use crate::domain::account::{Affiliation, DisplayName};
use crate::entities::user;
use crate::error::{ApiError, ApiResult, Problem};
use crate::routes::auth::{TokenPair, start_session, token_response};
use crate::startup::AppState;
use crate::{db, store};

/// Routes under the caller, `/me`: paths here are relative to it.
pub fn me(cfg: &mut ServiceConfig) {
    cfg.service(get_me)
        .service(patch_me)
        .service(change_password);
}

/// An account as its owner and admins see it.
#[derive(Serialize, ToSchema)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub affiliation: Option<String>,
    pub is_admin: bool,
    pub disabled: bool,
}

impl From<user::Model> for Account {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            affiliation: u.affiliation,
            is_admin: u.is_admin,
            disabled: u.disabled,
        }
    }
}

/// The caller's own account with where they take part.
#[derive(Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub account: Account,
    /// Round memberships: round, side and role.
    pub memberships: Vec<MembershipView>,
    /// Dialogues the caller organizes.
    pub organizer_of: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub round_id: String,
    pub side: String,
    pub role: String,
}

async fn me_view(state: &AppState, user: user::Model) -> ApiResult<Me> {
    let seats = store::participants::seats_of(&state.reader, &user.id).await?;
    Ok(Me {
        account: Account::from(user),
        memberships: seats
            .rounds
            .into_iter()
            .map(|(round_id, side, role)| MembershipView {
                round_id,
                side,
                role,
            })
            .collect(),
        organizer_of: seats.organizes,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Aisha Khan", "affiliation": "Institute of Strategic Studies"}))]
pub struct PatchMe {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::routes::me::double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub affiliation: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "my current passphrase", "new_password": "a new, longer passphrase"}))]
pub struct ChangePassword {
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The caller's own account, round memberships and organized dialogues.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses((status = 200, body = Me), (status = 401, body = Problem)))]
#[get("")] // /me
async fn get_me(auth: AuthUser, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let me = me_view(&state, auth.user).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(me))
}

/// Changes the caller's display name or affiliation.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = PatchMe,
    responses((status = 200, body = Account), (status = 400, body = Problem), (status = 401, body = Problem))
)]
#[patch("")] // /me
async fn patch_me(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<PatchMe>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let mut model = auth.user.into_active_model();
    if let Some(name) = body.display_name {
        match DisplayName::parse("display_name", &name) {
            Ok(name) => model.display_name = Set(name.into_inner()),
            Err(e) => errors.push(e),
        }
    }
    match body.affiliation {
        Some(Some(a)) => match Affiliation::parse("affiliation", &a) {
            Ok(a) => model.affiliation = Set(Some(a.into_inner())),
            Err(e) => errors.push(e),
        },
        Some(None) => model.affiliation = Set(None),
        None => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let user = store::users::update(&state.db, model).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(Account::from(user)))
}

/// Changes the caller's password. Every session and token of the account is revoked; the
/// answer carries a fresh token pair for the caller.
#[utoipa::path(
    tag = "me",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 200, body = TokenPair), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 429, body = Problem)
    )
)]
#[post("/password")] // /me/password
async fn change_password(
    auth: AuthUser,
    state: web::Data<AppState>,
    body: web::Json<ChangePassword>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    state.limits.login_account.check(&auth.user.email_key)?;
    state
        .passwords
        .check_policy("new_password", &body.new_password)?;
    let verified = state
        .passwords
        .verify(body.current_password, Some(auth.user.password_hash.clone()))
        .await?;
    if !verified.ok {
        return Err(ApiError::invalid(
            "current_password",
            "is not the current password",
        ));
    }
    let hash = state.passwords.hash(body.new_password).await?;
    let tx = db::begin_write(&state.db).await?;
    store::users::set_password_hash(&tx, auth.id(), hash).await?;
    store::users::bump_token_version(&tx, auth.id()).await?;
    store::sessions::revoke_all_for_user(&tx, auth.id()).await?;
    tx.commit().await?;
    let user = store::users::find(&state.db, auth.id())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(token_response(start_session(&state, &user).await?))
}
