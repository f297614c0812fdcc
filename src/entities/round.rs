use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rounds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub dialogue_id: String,
    pub sequence: i32,
    pub title: String,
    pub venue_name: Option<String>,
    pub venue_city: Option<String>,
    pub venue_country: Option<String>,
    pub timezone: String,
    pub starts_on: Date,
    pub ends_on: Date,
    pub status: String,
    pub rule: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Advanced by the database whenever what the attribution guard reads for this round
    /// changes (migration `m20261201_000008_guard_epoch`); names a built guard's vintage.
    pub guard_epoch: i64,
    /// Advanced by the database whenever what the round's agenda list shows changes
    /// (migration `m20261201_000009_agenda_epoch`).
    pub agenda_epoch: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::dialogue::Entity",
        from = "Column::DialogueId",
        to = "super::dialogue::Column::Id"
    )]
    Dialogue,
}

impl Related<super::dialogue::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Dialogue.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
