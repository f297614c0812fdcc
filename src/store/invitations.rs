//! Invitations. The token is never stored: only its SHA-256 hash. Accepting is a conditional
//! update from `pending`, so of any number of concurrent accepts exactly one succeeds.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::rights::Role;
use crate::entities::invitation;

use super::{new_id, now};

pub const PENDING: &str = "pending";
pub const ACCEPTED: &str = "accepted";
pub const DECLINED: &str = "declined";
pub const REVOKED: &str = "revoked";

pub struct NewInvitation {
    pub round_id: String,
    pub email: String,
    pub email_key: String,
    pub name: String,
    pub side: String,
    pub role: Role,
    pub message: Option<String>,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub created_by: String,
}

pub async fn create(
    db: &impl ConnectionTrait,
    new: NewInvitation,
) -> Result<invitation::Model, DbErr> {
    invitation::ActiveModel {
        id: Set(new_id()),
        round_id: Set(new.round_id),
        email: Set(new.email),
        email_key: Set(new.email_key),
        name: Set(new.name),
        side_key: Set(new.side),
        role: Set(new.role.as_str().to_owned()),
        message: Set(new.message),
        token_hash: Set(new.token_hash),
        status: Set(PENDING.to_owned()),
        expires_at: Set(new.expires_at),
        created_at: Set(now()),
        created_by: Set(Some(new.created_by)),
        responded_at: Set(None),
        reminder_sent_at: Set(None),
        user_id: Set(None),
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A pending, unexpired invitation by its token's hash.
pub async fn find_open_by_token(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<invitation::Model>, DbErr> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
        .filter(|i| i.status == PENDING && i.expires_at > now()))
}

/// Pending, unexpired invitations on one side of a round: they hold delegation places.
pub async fn open_on_side(
    db: &impl ConnectionTrait,
    round_id: &str,
    side: &str,
) -> Result<u64, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::RoundId.eq(round_id))
        .filter(invitation::Column::SideKey.eq(side))
        .filter(invitation::Column::Status.eq(PENDING))
        .filter(invitation::Column::ExpiresAt.gt(now()))
        .count(db)
        .await
}

/// Whether the email has an open invitation to the round other than `except`.
pub async fn open_for_email(
    db: &impl ConnectionTrait,
    round_id: &str,
    email_key: &str,
    except: Option<&str>,
) -> Result<bool, DbErr> {
    Ok(invitation::Entity::find()
        .filter(invitation::Column::Id.ne(except.unwrap_or("")))
        .filter(invitation::Column::RoundId.eq(round_id))
        .filter(invitation::Column::EmailKey.eq(email_key))
        .filter(invitation::Column::Status.eq(PENDING))
        .filter(invitation::Column::ExpiresAt.gt(now()))
        .count(db)
        .await?
        > 0)
}

/// The round's invitations by id after the cursor; `status` filters (`expired` means pending
/// past its expiry).
pub async fn list(
    db: &impl ConnectionTrait,
    round_id: &str,
    status: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<invitation::Model>, DbErr> {
    let mut q = invitation::Entity::find()
        .filter(invitation::Column::RoundId.eq(round_id))
        .order_by_asc(invitation::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(invitation::Column::Id.gt(after));
    }
    match status {
        Some("expired") => {
            q = q
                .filter(invitation::Column::Status.eq(PENDING))
                .filter(invitation::Column::ExpiresAt.lte(now()));
        }
        Some(PENDING) => {
            q = q
                .filter(invitation::Column::Status.eq(PENDING))
                .filter(invitation::Column::ExpiresAt.gt(now()));
        }
        Some(other) => q = q.filter(invitation::Column::Status.eq(other)),
        None => {}
    }
    q.all(db).await
}

/// Moves a pending invitation to `to`; false when it was no longer pending.
pub async fn respond(
    db: &impl ConnectionTrait,
    id: &str,
    to: &str,
    user_id: Option<&str>,
) -> Result<bool, DbErr> {
    let mut update = invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(to))
        .col_expr(invitation::Column::RespondedAt, Expr::value(now()))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::Status.eq(PENDING));
    if let Some(user_id) = user_id {
        update = update.col_expr(invitation::Column::UserId, Expr::value(user_id));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// A new token and expiry for a pending (or expired) invitation.
pub async fn renew(
    db: &impl ConnectionTrait,
    model: invitation::Model,
    token_hash: String,
    expires_at: DateTime<Utc>,
) -> Result<invitation::Model, DbErr> {
    let mut active: invitation::ActiveModel = model.into();
    active.token_hash = Set(token_hash);
    active.expires_at = Set(expires_at);
    active.reminder_sent_at = Set(None);
    active.update(db).await
}

/// Pending invitations expiring before `horizon` that have had no reminder yet.
pub async fn due_for_reminder(
    db: &impl ConnectionTrait,
    horizon: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::Status.eq(PENDING))
        .filter(invitation::Column::ReminderSentAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(now()))
        .filter(invitation::Column::ExpiresAt.lte(horizon))
        .limit(limit)
        .all(db)
        .await
}

/// Marks the reminder sent; false when another node got there first.
pub async fn mark_reminded(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let res = invitation::Entity::update_many()
        .col_expr(invitation::Column::ReminderSentAt, Expr::value(now()))
        .filter(invitation::Column::Id.eq(id))
        .filter(invitation::Column::ReminderSentAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
