//! One secret calendar-feed URL per account; only its hash is stored, and rotating it replaces
//! the row, so the old URL stops working.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CalendarFeeds {
    Table,
    UserId,
    TokenHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CalendarFeeds::Table)
                .col(
                    ColumnDef::new(CalendarFeeds::UserId)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(CalendarFeeds::TokenHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CalendarFeeds::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_calendar_feeds_user")
                        .from(CalendarFeeds::Table, CalendarFeeds::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_calendar_feeds_hash")
                .table(CalendarFeeds::Table)
                .col(CalendarFeeds::TokenHash)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CalendarFeeds::Table).to_owned())
            .await
    }
}
