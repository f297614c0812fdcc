use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::entities::api_token;

use super::{new_id, now};

pub async fn create(
    db: &impl ConnectionTrait,
    user_id: &str,
    name: String,
    scopes: String,
    token_hash: String,
    expires_at: DateTime<Utc>,
) -> Result<api_token::Model, DbErr> {
    api_token::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id.to_owned()),
        name: Set(name),
        scopes: Set(scopes),
        token_hash: Set(token_hash),
        expires_at: Set(expires_at),
        last_used_at: Set(None),
        created_at: Set(now()),
    }
    .insert(db)
    .await
}

pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash))
        .one(db)
        .await
}

pub async fn list(
    db: &impl ConnectionTrait,
    user_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<api_token::Model>, DbErr> {
    let mut q = api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user_id))
        .order_by_asc(api_token::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(api_token::Column::Id.gt(after));
    }
    q.all(db).await
}

pub async fn delete(db: &impl ConnectionTrait, user_id: &str, id: &str) -> Result<bool, DbErr> {
    let res = api_token::Entity::delete_many()
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records a use, at most once a minute per token (a write per request would cost more than
/// the request).
pub async fn touch(db: &impl ConnectionTrait, token: &api_token::Model) -> Result<(), DbErr> {
    let now = now();
    if token
        .last_used_at
        .is_some_and(|t| now - t < Duration::seconds(60))
    {
        return Ok(());
    }
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(token.id.as_str()))
        .exec(db)
        .await
        .map(|_| ())
}
