//! Notes. The rules this module keeps:
//! - A private note is stored with its author and is only ever read back by that author.
//! - A chatham note is stored with no author and nothing that links to one: its row holds the
//!   round, the optional agenda item, the sealed body, the hash of the edit key, the release
//!   flag and the date. Ids are random UUIDv4; lists are ordered by id, never by time.
//! - Bodies are sealed with the data key, with the note id as associated data.
//! - Deletion is a hard delete (SQLite overwrites the freed pages: `secure_delete`).

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, TryIntoModel,
};

use crate::db::Writer;
use crate::entities::{chatham_note, private_note, statement, statement_approval, summary};

/// Today, the only time a note carries.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Stores a new private note through `writer` (grouped with other writes on SQLite).
pub async fn create_private(
    writer: &Writer,
    id: String,
    round_id: &str,
    author_id: &str,
    agenda_item_id: Option<String>,
    sealed: (String, String),
) -> Result<private_note::Model, DbErr> {
    let note = private_note::ActiveModel {
        id: Set(id),
        round_id: Set(round_id.to_owned()),
        author_id: Set(author_id.to_owned()),
        agenda_item_id: Set(agenda_item_id),
        key_id: Set(sealed.0),
        body_sealed: Set(sealed.1),
        created_on: Set(today()),
    };
    let insert = private_note::Entity::insert(note.clone()).build(writer.backend());
    writer.write(vec![insert]).await?;
    note.try_into_model()
}

/// Stores a new chatham note through `writer` (grouped with other writes on SQLite).
pub async fn create_chatham(
    writer: &Writer,
    id: String,
    round_id: &str,
    agenda_item_id: Option<String>,
    sealed: (String, String),
    edit_key_hash: String,
) -> Result<chatham_note::Model, DbErr> {
    let note = chatham_note::ActiveModel {
        id: Set(id),
        round_id: Set(round_id.to_owned()),
        agenda_item_id: Set(agenda_item_id),
        key_id: Set(sealed.0),
        body_sealed: Set(sealed.1),
        edit_key_hash: Set(edit_key_hash),
        released: Set(false),
        created_on: Set(today()),
    };
    let insert = chatham_note::Entity::insert(note.clone()).build(writer.backend());
    writer.write(vec![insert]).await?;
    note.try_into_model()
}

pub async fn find_private(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<private_note::Model>, DbErr> {
    private_note::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
}

pub async fn find_chatham(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<chatham_note::Model>, DbErr> {
    chatham_note::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
}

/// Released chatham notes of a round, by id after the cursor.
pub async fn list_released(
    db: &impl crate::db::Fetch,
    round_id: &str,
    item: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<chatham_note::Model>, DbErr> {
    let mut q = chatham_note::Entity::find()
        .filter(chatham_note::Column::RoundId.eq(round_id))
        .filter(chatham_note::Column::Released.eq(true))
        .order_by_asc(chatham_note::Column::Id)
        .limit(limit);
    if let Some(item) = item {
        q = q.filter(chatham_note::Column::AgendaItemId.eq(item));
    }
    if let Some(after) = after {
        q = q.filter(chatham_note::Column::Id.gt(after));
    }
    crate::db::all(db, q).await
}

/// All released chatham notes of a round (for the record).
pub async fn all_released(
    db: &impl ConnectionTrait,
    round_id: &str,
) -> Result<Vec<chatham_note::Model>, DbErr> {
    chatham_note::Entity::find()
        .filter(chatham_note::Column::RoundId.eq(round_id))
        .filter(chatham_note::Column::Released.eq(true))
        .order_by_asc(chatham_note::Column::Id)
        .all(db)
        .await
}

/// The author's private notes, by id after the cursor.
pub async fn list_private(
    db: &impl ConnectionTrait,
    author_id: &str,
    round: Option<&str>,
    item: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<private_note::Model>, DbErr> {
    let mut q = private_note::Entity::find()
        .filter(private_note::Column::AuthorId.eq(author_id))
        .order_by_asc(private_note::Column::Id)
        .limit(limit);
    if let Some(round) = round {
        q = q.filter(private_note::Column::RoundId.eq(round));
    }
    if let Some(item) = item {
        q = q.filter(private_note::Column::AgendaItemId.eq(item));
    }
    if let Some(after) = after {
        q = q.filter(private_note::Column::Id.gt(after));
    }
    q.all(db).await
}

pub async fn set_private_body(
    db: &impl ConnectionTrait,
    id: &str,
    sealed: (String, String),
) -> Result<(), DbErr> {
    private_note::Entity::update_many()
        .col_expr(private_note::Column::KeyId, Expr::value(sealed.0))
        .col_expr(private_note::Column::BodySealed, Expr::value(sealed.1))
        .filter(private_note::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Replaces a held note's body; false when it was released meanwhile.
pub async fn set_chatham_body(
    db: &impl ConnectionTrait,
    id: &str,
    sealed: (String, String),
) -> Result<bool, DbErr> {
    let res = chatham_note::Entity::update_many()
        .col_expr(chatham_note::Column::KeyId, Expr::value(sealed.0))
        .col_expr(chatham_note::Column::BodySealed, Expr::value(sealed.1))
        .filter(chatham_note::Column::Id.eq(id))
        .filter(chatham_note::Column::Released.eq(false))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn delete_private(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    private_note::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn delete_chatham(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    chatham_note::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await
        .map(|_| ())
}

/// Releases the held notes of a round (or of one of its agenda items). Returns how many.
pub async fn release(
    db: &impl ConnectionTrait,
    round_id: &str,
    item: Option<&str>,
) -> Result<u64, DbErr> {
    let mut q = chatham_note::Entity::update_many()
        .col_expr(chatham_note::Column::Released, Expr::value(true))
        .filter(chatham_note::Column::RoundId.eq(round_id))
        .filter(chatham_note::Column::Released.eq(false));
    if let Some(item) = item {
        q = q.filter(chatham_note::Column::AgendaItemId.eq(item));
    }
    Ok(q.exec(db).await?.rows_affected)
}

pub async fn held_count(db: &impl ConnectionTrait, round_id: &str) -> Result<u64, DbErr> {
    chatham_note::Entity::find()
        .filter(chatham_note::Column::RoundId.eq(round_id))
        .filter(chatham_note::Column::Released.eq(false))
        .count(db)
        .await
}

pub async fn find_summary(
    db: &impl ConnectionTrait,
    item_id: &str,
) -> Result<Option<summary::Model>, DbErr> {
    summary::Entity::find_by_id(item_id.to_owned())
        .one(db)
        .await
}

pub async fn put_summary(
    db: &impl ConnectionTrait,
    item_id: &str,
    sealed: (String, String),
) -> Result<summary::Model, DbErr> {
    summary::Entity::delete_by_id(item_id.to_owned())
        .exec(db)
        .await?;
    summary::ActiveModel {
        agenda_item_id: Set(item_id.to_owned()),
        key_id: Set(sealed.0),
        body_sealed: Set(sealed.1),
        updated_on: Set(today()),
    }
    .insert(db)
    .await
}

pub async fn find_statement(
    db: &impl ConnectionTrait,
    round_id: &str,
) -> Result<Option<statement::Model>, DbErr> {
    statement::Entity::find_by_id(round_id.to_owned())
        .one(db)
        .await
}

/// Stores a new version of the round's statement; earlier approvals no longer count.
pub async fn put_statement(
    db: &impl ConnectionTrait,
    round_id: &str,
    sealed: (String, String),
) -> Result<statement::Model, DbErr> {
    let version = find_statement(db, round_id)
        .await?
        .map(|s| s.version)
        .unwrap_or(0)
        + 1;
    statement::Entity::delete_by_id(round_id.to_owned())
        .exec(db)
        .await?;
    statement_approval::Entity::delete_many()
        .filter(statement_approval::Column::RoundId.eq(round_id))
        .exec(db)
        .await?;
    statement::ActiveModel {
        round_id: Set(round_id.to_owned()),
        version: Set(version),
        key_id: Set(sealed.0),
        body_sealed: Set(sealed.1),
        adopted: Set(false),
        updated_on: Set(today()),
    }
    .insert(db)
    .await
}

/// Sides that approved the current version.
pub async fn approved_sides(
    db: &impl ConnectionTrait,
    round_id: &str,
    version: i32,
) -> Result<Vec<String>, DbErr> {
    Ok(statement_approval::Entity::find()
        .filter(statement_approval::Column::RoundId.eq(round_id))
        .filter(statement_approval::Column::Version.eq(version))
        .order_by_asc(statement_approval::Column::SideKey)
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.side_key)
        .collect())
}

pub async fn approve(
    db: &impl ConnectionTrait,
    round_id: &str,
    version: i32,
    side: &str,
) -> Result<(), DbErr> {
    let exists =
        statement_approval::Entity::find_by_id((round_id.to_owned(), version, side.to_owned()))
            .one(db)
            .await?
            .is_some();
    if !exists {
        statement_approval::ActiveModel {
            round_id: Set(round_id.to_owned()),
            version: Set(version),
            side_key: Set(side.to_owned()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

pub async fn set_adopted(db: &impl ConnectionTrait, round_id: &str) -> Result<(), DbErr> {
    statement::Entity::update_many()
        .col_expr(statement::Column::Adopted, Expr::value(true))
        .filter(statement::Column::RoundId.eq(round_id))
        .exec(db)
        .await
        .map(|_| ())
}
