//! Sign-in sessions and their rotating refresh tokens. A refresh token is used once: the
//! conditional update in `rotate` lets exactly one of two concurrent presentations win, and
//! presenting a used token revokes the whole session (reuse means it was stolen).

use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryTrait,
    Set,
};

use crate::db::Fetch;
use crate::db::shape::Shape;
use crate::entities::{refresh_token, session, user};

use super::{new_id, now};

pub async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    ttl: Duration,
    refresh_hash: String,
) -> Result<session::Model, DbErr> {
    let now = now();
    let session = session::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    add_refresh(db, &session, refresh_hash).await?;
    Ok(session)
}

async fn add_refresh(
    db: &impl ConnectionTrait,
    session: &session::Model,
    hash: String,
) -> Result<(), DbErr> {
    refresh_token::ActiveModel {
        id: Set(new_id()),
        session_id: Set(session.id.clone()),
        token_hash: Set(hash),
        expires_at: Set(session.expires_at),
        used_at: Set(None),
        created_at: Set(now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The session and its account in one query: this runs on every authenticated request.
pub async fn find_user_and_session(
    db: &impl Fetch,
    user_id: &str,
    session_id: &str,
) -> Result<Option<(user::Model, session::Model)>, DbErr> {
    static SHAPE: Shape = Shape::new();
    // At most one row: `id` is the key.
    let query = SHAPE.statement(
        db.backend(),
        vec![session_id.into(), user_id.into()],
        || {
            session::Entity::find_by_id(session_id.to_owned())
                .filter(session::Column::UserId.eq(user_id))
                .find_also_related(user::Entity)
                .build(db.backend())
        },
    );
    let Some(row) = db.fetch_one(query).await? else {
        return Ok(None);
    };
    let session = row.model::<session::Entity>("A_")?;
    Ok(row
        .model_optional::<user::Entity>("B_")?
        .map(|user| (user, session)))
}

pub enum Rotation {
    /// The token was valid: the session goes on with the new refresh token.
    Rotated { session: session::Model },
    /// Unknown, expired, revoked, or reused (the session is now revoked).
    Refused,
}

/// Spends the refresh token whose hash is `presented` and stores `next` in its place.
pub async fn rotate(
    db: &impl ConnectionTrait,
    presented: &str,
    next: String,
) -> Result<Rotation, DbErr> {
    let Some(token) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(presented))
        .one(db)
        .await?
    else {
        return Ok(Rotation::Refused);
    };
    let Some(session) = session::Entity::find_by_id(token.session_id.clone())
        .one(db)
        .await?
    else {
        return Ok(Rotation::Refused);
    };
    let now = now();
    if session.revoked_at.is_some() || session.expires_at <= now || token.expires_at <= now {
        return Ok(Rotation::Refused);
    }
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(token.id.clone()))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if spent.rows_affected != 1 {
        revoke(db, &session.id).await?;
        return Ok(Rotation::Refused);
    }
    add_refresh(db, &session, next).await?;
    Ok(Rotation::Rotated { session })
}

pub async fn revoke(db: &impl ConnectionTrait, session_id: &str) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map(|_| ())
}

/// The session a refresh token belongs to, whatever its state.
pub async fn session_of_refresh(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<String>, DbErr> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash))
        .one(db)
        .await?
        .map(|t| t.session_id))
}

pub async fn revoke_all_for_user(db: &impl ConnectionTrait, user_id: &str) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map(|_| ())
}
