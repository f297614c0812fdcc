//! The signed-in user as a handler argument. Everything that decides access is read from the
//! database on every request: the account (disabled? token version?) and the session (revoked?).
//! Round roles are never taken from the token.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::entities::user;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store;

pub struct AuthUser {
    pub user: user::Model,
    pub session_id: String,
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
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or(ApiError::Internal)?;
            let token = token.ok_or(ApiError::Unauthorized)?;
            let claims = state.tokens.verify(&token).ok_or(ApiError::Unauthorized)?;
            let (user, session) =
                store::sessions::find_user_and_session(&state.db, &claims.sub, &claims.sid)
                    .await?
                    .ok_or(ApiError::Unauthorized)?;
            let now = chrono::Utc::now();
            if user.disabled
                || user.token_version != claims.ver
                || session.revoked_at.is_some()
                || session.expires_at <= now
            {
                return Err(ApiError::Unauthorized);
            }
            Ok(AuthUser {
                user,
                session_id: session.id,
            })
        })
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}
