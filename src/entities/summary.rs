use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "summaries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub agenda_item_id: String,
    pub body_sealed: String,
    pub key_id: String,
    pub updated_on: Date,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
