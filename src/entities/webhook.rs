use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub dialogue_id: String,
    pub url: String,
    /// Comma-separated event types.
    pub events: String,
    pub description: Option<String>,
    /// The signing secret, sealed with the data key (the webhook id is the associated data).
    pub secret_sealed: String,
    pub key_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
