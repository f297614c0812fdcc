use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agenda_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub round_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub number: i32,
    /// The published agenda as JSON (items without outcomes).
    pub snapshot: String,
    pub published_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
