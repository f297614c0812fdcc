use sea_orm::sea_query::{Alias, Expr, ExprTrait, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IdenStatic,
    Iterable, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QueryTrait, Set,
};

use crate::db::{Fetch, Row};
use crate::domain::rights::{Action, Role};
use crate::entities::{dialogue, dialogue_organizer, participant, round, session, user};

use super::now;

pub async fn find(
    db: &impl ConnectionTrait,
    round_id: &str,
    user_id: &str,
) -> Result<Option<participant::Model>, DbErr> {
    participant::Entity::find_by_id((round_id.to_owned(), user_id.to_owned()))
        .one(db)
        .await
}

/// The round's participants with their accounts, by user id.
pub async fn list(
    db: &impl Fetch,
    round_id: &str,
) -> Result<Vec<(participant::Model, user::Model)>, DbErr> {
    use sea_orm::{JoinType, QuerySelect, QueryTrait};
    // Participants and their accounts in one query (the table has no relation declared).
    let account = participant::Entity::belongs_to(user::Entity)
        .from(participant::Column::UserId)
        .to(user::Column::Id)
        .into();
    let query = participant::Entity::find()
        .filter(participant::Column::RoundId.eq(round_id))
        .join(JoinType::InnerJoin, account)
        .select_also(user::Entity)
        .order_by_asc(participant::Column::UserId)
        .build(db.backend());
    let rows = db.fetch(query).await?;
    let participants = crate::db::models::<participant::Entity>(&rows, "A_")?;
    let users = crate::db::models::<user::Entity>(&rows, "B_")?;
    Ok(participants.into_iter().zip(users).collect())
}

/// (side, role) of every participant: for readiness and the attribution guard.
pub async fn roles(
    db: &impl ConnectionTrait,
    round_id: &str,
) -> Result<Vec<(String, Role)>, DbErr> {
    Ok(participant::Entity::find()
        .filter(participant::Column::RoundId.eq(round_id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|p| Some((p.side_key, p.role.parse().ok()?)))
        .collect())
}

/// The people who could have written a shared note of the round: participants whose role may
/// post one (observers may not) and who are not marked absent. This is the crowd a released
/// note hides in, so it is what `notes.min_release_group` counts: three delegates and two
/// observers are a room of three writers, not five.
pub async fn possible_authors(db: &impl ConnectionTrait, round_id: &str) -> Result<u64, DbErr> {
    let writers = Role::ALL
        .into_iter()
        .filter(|&role| crate::domain::rights::allowed(false, Some(role), Action::PostChatham))
        .map(Role::as_str);
    participant::Entity::find()
        .filter(participant::Column::RoundId.eq(round_id))
        .filter(participant::Column::Role.is_in(writers))
        .filter(participant::Column::Attendance.ne("absent"))
        .count(db)
        .await
}

pub async fn count_on_side(
    db: &impl ConnectionTrait,
    round_id: &str,
    side: &str,
) -> Result<u64, DbErr> {
    participant::Entity::find()
        .filter(participant::Column::RoundId.eq(round_id))
        .filter(participant::Column::SideKey.eq(side))
        .count(db)
        .await
}

pub async fn add(
    db: &impl ConnectionTrait,
    round_id: &str,
    user_id: &str,
    side: &str,
    role: Role,
) -> Result<participant::Model, DbErr> {
    participant::ActiveModel {
        round_id: Set(round_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        side_key: Set(side.to_owned()),
        role: Set(role.as_str().to_owned()),
        attendance: Set("expected".to_owned()),
        joined_at: Set(now()),
    }
    .insert(db)
    .await
}

pub async fn update(
    db: &impl ConnectionTrait,
    model: participant::ActiveModel,
) -> Result<participant::Model, DbErr> {
    model.update(db).await
}

pub async fn remove(
    db: &impl ConnectionTrait,
    round_id: &str,
    user_id: &str,
) -> Result<bool, DbErr> {
    Ok(
        participant::Entity::delete_by_id((round_id.to_owned(), user_id.to_owned()))
            .exec(db)
            .await?
            .rows_affected
            == 1,
    )
}

/// Every round membership of the user.
pub async fn memberships(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<participant::Model>, DbErr> {
    participant::Entity::find()
        .filter(participant::Column::UserId.eq(user_id))
        .order_by_asc(participant::Column::RoundId)
        .all(db)
        .await
}

/// Where a user sits: their round memberships and the dialogues they organize.
pub struct Seats {
    /// (round id, side key, role), by round id.
    pub rounds: Vec<(String, String, String)>,
    /// Dialogue ids, in order.
    pub organizes: Vec<String>,
}

/// Every seat of the user, in one query (`GET /me` shows them all).
pub async fn seats_of(db: &impl Fetch, user_id: &str) -> Result<Seats, DbErr> {
    use sea_orm::{DbBackend, Statement};
    let backend = db.backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT 'r' AS kind, round_id AS id, side_key, role FROM participants WHERE user_id = $1 \
             UNION ALL SELECT 'd', dialogue_id, NULL, NULL FROM dialogue_organizers WHERE user_id = $2 \
             ORDER BY kind, id"
        }
        _ => {
            "SELECT 'r' AS kind, round_id AS id, side_key, role FROM participants WHERE user_id = ? \
             UNION ALL SELECT 'd', dialogue_id, NULL, NULL FROM dialogue_organizers WHERE user_id = ? \
             ORDER BY kind, id"
        }
    };
    let rows = db
        .fetch(Statement::from_sql_and_values(
            backend,
            sql,
            [user_id.into(), user_id.into()],
        ))
        .await?;
    let mut seats = Seats {
        rounds: Vec::new(),
        organizes: Vec::new(),
    };
    for row in rows {
        let kind: String = row.get("kind")?;
        let id: String = row.get("id")?;
        if kind == "r" {
            let side: Option<String> = row.get("side_key")?;
            let role: Option<String> = row.get("role")?;
            seats
                .rounds
                .push((id, side.unwrap_or_default(), role.unwrap_or_default()));
        } else {
            seats.organizes.push(id);
        }
    }
    Ok(seats)
}

/// What a round-scoped request needs to decide access, in one query: the round, its dialogue,
/// whether the user organizes that dialogue, and the user's membership of the round. `None`
/// when the round does not exist.
#[derive(Clone)]
pub struct RoundSeat {
    pub round: round::Model,
    pub dialogue: dialogue::Model,
    pub organizer: bool,
    pub membership: Option<participant::Model>,
}

pub async fn round_seat(
    db: &impl Fetch,
    round_id: &str,
    user_id: &str,
) -> Result<Option<RoundSeat>, DbErr> {
    // The organizer seat and the membership come from outer joins on the two tables' keys, so
    // the query yields exactly one row for an existing round, and every column it reads is a
    // table column (`db::reader` types each by its entity).
    let build = || {
        let mut query = round::Entity::find_by_id(round_id.to_owned())
            .find_also_related(dialogue::Entity)
            .into_query();
        join_seat(&mut query, user_id);
        db.backend().build(&query)
    };
    static SHAPE: crate::db::shape::Shape = crate::db::shape::Shape::new();
    let stmt = SHAPE.statement(
        db.backend(),
        vec![user_id.into(), user_id.into(), round_id.into()],
        build,
    );
    let Some(row) = db.fetch_one(stmt).await? else {
        return Ok(None);
    };
    seat_from_row(&row, "A_", "B_", user_id)
}

/// A sign-in session, its account, and the account's seat in a round (`None` when the round
/// does not exist), in one query: what a round-scoped request reads before anything else.
#[derive(Clone)]
pub struct SessionSeat {
    pub user: user::Model,
    pub session: session::Model,
    pub seat: Option<RoundSeat>,
}

/// The session `session_id` of `user_id` with the user's seat in `round_id`; `None` when there
/// is no such session. One read instead of the two of `sessions::find_user_and_session` and
/// [`round_seat`]: each read on SQLite starts a transaction of its own, whose locking of the
/// log's read marks and refilling of a page cache the writer's commits have invalidated cost
/// more than the lookups themselves.
pub async fn session_and_seat(
    db: &impl Fetch,
    round_id: &str,
    user_id: &str,
    session_id: &str,
) -> Result<Option<SessionSeat>, DbErr> {
    let build = || {
        let mut query = session::Entity::find_by_id(session_id.to_owned())
            .filter(session::Column::UserId.eq(user_id))
            .find_also_related(user::Entity)
            .into_query();
        query
            .join(
                JoinType::LeftJoin,
                round::Entity,
                Expr::col((round::Entity, round::Column::Id)).eq(round_id),
            )
            .join(
                JoinType::LeftJoin,
                dialogue::Entity,
                Expr::col((dialogue::Entity, dialogue::Column::Id))
                    .equals((round::Entity, round::Column::DialogueId)),
            );
        select_prefixed::<round::Entity>(&mut query, "C_");
        select_prefixed::<dialogue::Entity>(&mut query, "D_");
        join_seat(&mut query, user_id);
        db.backend().build(&query)
    };
    static SHAPE: crate::db::shape::Shape = crate::db::shape::Shape::new();
    let stmt = SHAPE.statement(
        db.backend(),
        vec![
            round_id.into(),
            user_id.into(),
            user_id.into(),
            session_id.into(),
            user_id.into(),
        ],
        build,
    );
    let Some(row) = db.fetch_one(stmt).await? else {
        return Ok(None);
    };
    let session = row.model::<session::Entity>("A_")?;
    let Some(user) = row.model_optional::<user::Entity>("B_")? else {
        return Ok(None);
    };
    Ok(Some(SessionSeat {
        seat: seat_from_row(&row, "C_", "D_", user_id)?,
        user,
        session,
    }))
}

/// Every column of `E`, named with `prefix`, as `find_also_related` names its two entities'.
fn select_prefixed<E: EntityTrait>(query: &mut SelectStatement, prefix: &str) {
    for column in E::Column::iter() {
        query.expr_as(
            Expr::col((E::default(), column)),
            Alias::new(format!("{prefix}{}", column.as_str())),
        );
    }
}

/// Joins the user's organizer seat in the round's dialogue and membership of the round (both
/// outer joins on the tables' keys, so the round's row stays one row) and selects their
/// columns for [`seat_from_row`]. The query must select from or join `rounds`.
fn join_seat(query: &mut SelectStatement, user_id: &str) {
    let organizer = Alias::new("o");
    query
        .join_as(
            JoinType::LeftJoin,
            dialogue_organizer::Entity,
            organizer.clone(),
            Condition::all()
                .add(
                    Expr::col((organizer.clone(), dialogue_organizer::Column::DialogueId))
                        .equals((round::Entity, round::Column::DialogueId)),
                )
                .add(
                    Expr::col((organizer.clone(), dialogue_organizer::Column::UserId)).eq(user_id),
                ),
        )
        .expr_as(
            Expr::col((organizer, dialogue_organizer::Column::UserId)),
            "organizer_id",
        )
        .join(
            JoinType::LeftJoin,
            participant::Entity,
            Condition::all()
                .add(
                    Expr::col((participant::Entity, participant::Column::RoundId))
                        .equals((round::Entity, round::Column::Id)),
                )
                .add(Expr::col((participant::Entity, participant::Column::UserId)).eq(user_id)),
        );
    for (column, alias) in [
        (participant::Column::SideKey, "p_side_key"),
        (participant::Column::Role, "p_role"),
        (participant::Column::Attendance, "p_attendance"),
        (participant::Column::JoinedAt, "p_joined_at"),
    ] {
        query.expr_as(Expr::col((participant::Entity, column)), alias);
    }
}

/// The seat [`join_seat`] selected, with the round and dialogue under their prefixes; `None`
/// when the round's columns are NULL (an outer join to a round that does not exist).
fn seat_from_row(
    row: &Row,
    round_prefix: &str,
    dialogue_prefix: &str,
    user_id: &str,
) -> Result<Option<RoundSeat>, DbErr> {
    let Some(round) = row.model_optional::<round::Entity>(round_prefix)? else {
        return Ok(None);
    };
    let Some(dialogue) = row.model_optional::<dialogue::Entity>(dialogue_prefix)? else {
        return Ok(None);
    };
    let organizer = row.get::<Option<String>>("organizer_id")?.is_some();
    let side: Option<String> = row.get("p_side_key")?;
    let membership = match side {
        Some(side_key) => Some(participant::Model {
            round_id: round.id.clone(),
            user_id: user_id.to_owned(),
            side_key,
            role: row.get("p_role")?,
            attendance: row.get("p_attendance")?,
            joined_at: row.get("p_joined_at")?,
        }),
        None => None,
    };
    Ok(Some(RoundSeat {
        round,
        dialogue,
        organizer,
        membership,
    }))
}
