use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::account::NewAccount;
use crate::entities::user;

use super::{new_id, now};

pub async fn create(
    db: &impl ConnectionTrait,
    account: NewAccount,
    password_hash: String,
) -> Result<user::Model, DbErr> {
    let now = now();
    user::ActiveModel {
        id: Set(new_id()),
        email_key: Set(account.email.key()),
        email: Set(account.email.into_inner()),
        display_name: Set(account.display_name.into_inner()),
        affiliation: Set(account.affiliation.map(|a| a.into_inner())),
        password_hash: Set(password_hash),
        token_version: Set(0),
        disabled: Set(false),
        is_admin: Set(account.is_admin),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn find_by_email_key(
    db: &impl ConnectionTrait,
    email_key: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::EmailKey.eq(email_key))
        .one(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Display names of the given accounts, in one query.
pub async fn display_names(
    db: &impl crate::db::Fetch,
    ids: Vec<String>,
) -> Result<Vec<(String, String)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::DisplayName)
        .filter(user::Column::Id.is_in(ids));
    let query = sea_orm::QueryTrait::build(&query, db.backend());
    db.fetch(query)
        .await?
        .iter()
        .map(|row| Ok((row.get("id")?, row.get("display_name")?)))
        .collect()
}

pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: &str,
    hash: String,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Invalidates every access token issued so far for the user.
pub async fn bump_token_version(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(
            user::Column::TokenVersion,
            Expr::col(user::Column::TokenVersion).add(1),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn update(
    db: &impl ConnectionTrait,
    model: user::ActiveModel,
) -> Result<user::Model, DbErr> {
    let mut model = model;
    model.updated_at = Set(now());
    model.update(db).await
}

/// A page of accounts ordered by id, after `cursor`.
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<user::Model>, DbErr> {
    let mut query = user::Entity::find()
        .order_by_asc(user::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        query = query.filter(user::Column::Id.gt(after));
    }
    query.all(db).await
}
