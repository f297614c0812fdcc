use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::dialogue::{Format, Rule, Side};
use crate::entities::{dialogue, dialogue_organizer, dialogue_side, participant, round, user};

use super::{new_id, now};

pub struct NewDialogue {
    pub name: String,
    pub description: Option<String>,
    pub format: Format,
    pub parity_tolerance: i32,
    pub rule: Rule,
    pub sides: Vec<Side>,
}

pub async fn create(
    db: &impl ConnectionTrait,
    new: NewDialogue,
    creator: &str,
) -> Result<dialogue::Model, DbErr> {
    let now = now();
    let d = dialogue::ActiveModel {
        id: Set(new_id()),
        name: Set(new.name),
        description: Set(new.description),
        format: Set(new.format.as_str().to_owned()),
        parity_tolerance: Set(new.parity_tolerance),
        rule: Set(new.rule.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    for (i, s) in new.sides.into_iter().enumerate() {
        dialogue_side::ActiveModel {
            dialogue_id: Set(d.id.clone()),
            key: Set(s.key),
            name: Set(s.name),
            country: Set(s.country),
            delegation_limit: Set(s.delegation_limit),
            neutral: Set(s.neutral),
            position: Set(i as i32),
        }
        .insert(db)
        .await?;
    }
    add_organizer(db, &d.id, creator).await?;
    Ok(d)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<dialogue::Model>, DbErr> {
    dialogue::Entity::find_by_id(id.to_owned()).one(db).await
}

pub async fn sides(db: &impl crate::db::Fetch, dialogue_id: &str) -> Result<Vec<Side>, DbErr> {
    Ok(crate::db::all(
        db,
        dialogue_side::Entity::find()
            .filter(dialogue_side::Column::DialogueId.eq(dialogue_id))
            .order_by_asc(dialogue_side::Column::Position),
    )
    .await?
    .into_iter()
    .map(|s| Side {
        key: s.key,
        name: s.name,
        country: s.country,
        delegation_limit: s.delegation_limit,
        neutral: s.neutral,
    })
    .collect())
}

/// Replaces the editable fields of one side (its key is fixed: participants refer to it).
pub async fn update_side(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    side: &Side,
) -> Result<(), DbErr> {
    dialogue_side::Entity::update_many()
        .col_expr(dialogue_side::Column::Name, Expr::value(side.name.clone()))
        .col_expr(
            dialogue_side::Column::Country,
            Expr::value(side.country.clone()),
        )
        .col_expr(
            dialogue_side::Column::DelegationLimit,
            Expr::value(side.delegation_limit),
        )
        .filter(dialogue_side::Column::DialogueId.eq(dialogue_id))
        .filter(dialogue_side::Column::Key.eq(side.key.as_str()))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn is_organizer(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    Ok(
        dialogue_organizer::Entity::find_by_id((dialogue_id.to_owned(), user_id.to_owned()))
            .one(db)
            .await?
            .is_some(),
    )
}

pub async fn organizes_any(db: &impl ConnectionTrait, user_id: &str) -> Result<bool, DbErr> {
    Ok(dialogue_organizer::Entity::find()
        .filter(dialogue_organizer::Column::UserId.eq(user_id))
        .count(db)
        .await?
        > 0)
}

pub async fn organizer_of(db: &impl ConnectionTrait, user_id: &str) -> Result<Vec<String>, DbErr> {
    Ok(dialogue_organizer::Entity::find()
        .filter(dialogue_organizer::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.dialogue_id)
        .collect())
}

pub async fn organizers(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
) -> Result<Vec<user::Model>, DbErr> {
    let ids: Vec<String> = dialogue_organizer::Entity::find()
        .filter(dialogue_organizer::Column::DialogueId.eq(dialogue_id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.user_id)
        .collect();
    user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .order_by_asc(user::Column::Id)
        .all(db)
        .await
}

pub async fn add_organizer(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    user_id: &str,
) -> Result<(), DbErr> {
    dialogue_organizer::ActiveModel {
        dialogue_id: Set(dialogue_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

pub async fn remove_organizer(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    Ok(
        dialogue_organizer::Entity::delete_by_id((dialogue_id.to_owned(), user_id.to_owned()))
            .exec(db)
            .await?
            .rows_affected
            == 1,
    )
}

pub async fn organizer_count(db: &impl ConnectionTrait, dialogue_id: &str) -> Result<u64, DbErr> {
    dialogue_organizer::Entity::find()
        .filter(dialogue_organizer::Column::DialogueId.eq(dialogue_id))
        .count(db)
        .await
}

/// Whether the user takes part in any round of the dialogue.
pub async fn is_member(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    let rounds = Query::select()
        .column(round::Column::Id)
        .from(round::Entity)
        .and_where(round::Column::DialogueId.eq(dialogue_id))
        .to_owned();
    Ok(participant::Entity::find()
        .filter(participant::Column::UserId.eq(user_id))
        .filter(participant::Column::RoundId.in_subquery(rounds))
        .count(db)
        .await?
        > 0)
}

/// The dialogues the user organizes or takes part in, by id after the cursor.
pub async fn list_visible(
    db: &impl ConnectionTrait,
    user_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<dialogue::Model>, DbErr> {
    let organized = Query::select()
        .column(dialogue_organizer::Column::DialogueId)
        .from(dialogue_organizer::Entity)
        .and_where(dialogue_organizer::Column::UserId.eq(user_id))
        .to_owned();
    let member_rounds = Query::select()
        .column(participant::Column::RoundId)
        .from(participant::Entity)
        .and_where(participant::Column::UserId.eq(user_id))
        .to_owned();
    let member = Query::select()
        .column(round::Column::DialogueId)
        .from(round::Entity)
        .and_where(round::Column::Id.in_subquery(member_rounds))
        .to_owned();
    let mut q = dialogue::Entity::find()
        .filter(
            Condition::any()
                .add(dialogue::Column::Id.in_subquery(organized))
                .add(dialogue::Column::Id.in_subquery(member)),
        )
        .order_by_asc(dialogue::Column::Id)
        .limit(limit);
    if let Some(after) = after {
        q = q.filter(dialogue::Column::Id.gt(after));
    }
    q.all(db).await
}

pub async fn touch(
    db: &impl ConnectionTrait,
    model: dialogue::ActiveModel,
) -> Result<dialogue::Model, DbErr> {
    let mut model = model;
    model.updated_at = Set(now());
    model.update(db).await
}
