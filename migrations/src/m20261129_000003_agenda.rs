//! The agenda: items of a round with their lineage across rounds, topics, leads, status
//! history, and published versions.
//!
//! An item's outcome is sealed with the data key like notes are (it is a non-attributed account
//! of what was decided). The status history records what changed and when; who changed it is in
//! the audit trail, never on the item.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AgendaItems {
    Table,
    Id,
    RoundId,
    LineageId,
    Position,
    Title,
    Description,
    Kind,
    StartsAt,
    EndsAt,
    Status,
    OutcomeSealed,
    OutcomeKeyId,
    Revision,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgendaTopics {
    Table,
    ItemId,
    Topic,
}

#[derive(DeriveIden)]
enum AgendaLeads {
    Table,
    ItemId,
    UserId,
}

#[derive(DeriveIden)]
enum AgendaStatusHistory {
    Table,
    Id,
    ItemId,
    FromStatus,
    ToStatus,
    At,
}

#[derive(DeriveIden)]
enum AgendaVersions {
    Table,
    RoundId,
    Number,
    Snapshot,
    PublishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AgendaItems::Table)
                .col(
                    ColumnDef::new(AgendaItems::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AgendaItems::RoundId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaItems::LineageId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(AgendaItems::Position).integer().not_null())
                .col(
                    ColumnDef::new(AgendaItems::Title)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(AgendaItems::Description).text().null())
                .col(ColumnDef::new(AgendaItems::Kind).string_len(20).not_null())
                .col(
                    ColumnDef::new(AgendaItems::StartsAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(AgendaItems::EndsAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(AgendaItems::Status)
                        .string_len(20)
                        .not_null(),
                )
                .col(ColumnDef::new(AgendaItems::OutcomeSealed).text().null())
                .col(
                    ColumnDef::new(AgendaItems::OutcomeKeyId)
                        .string_len(40)
                        .null(),
                )
                .col(
                    ColumnDef::new(AgendaItems::Revision)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(AgendaItems::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaItems::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agenda_items_round")
                        .from(AgendaItems::Table, AgendaItems::RoundId)
                        .to(Rounds::Table, Rounds::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_agenda_items_round")
                .table(AgendaItems::Table)
                .col(AgendaItems::RoundId)
                .col(AgendaItems::Position)
                .to_owned(),
        )
        .await?;
        // One item per lineage per round: carrying forward twice into a round is refused.
        m.create_index(
            Index::create()
                .name("ux_agenda_items_lineage_round")
                .table(AgendaItems::Table)
                .col(AgendaItems::LineageId)
                .col(AgendaItems::RoundId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgendaTopics::Table)
                .col(
                    ColumnDef::new(AgendaTopics::ItemId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaTopics::Topic)
                        .string_len(60)
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(AgendaTopics::ItemId)
                        .col(AgendaTopics::Topic),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agenda_topics_item")
                        .from(AgendaTopics::Table, AgendaTopics::ItemId)
                        .to(AgendaItems::Table, AgendaItems::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_agenda_topics_topic")
                .table(AgendaTopics::Table)
                .col(AgendaTopics::Topic)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgendaLeads::Table)
                .col(
                    ColumnDef::new(AgendaLeads::ItemId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaLeads::UserId)
                        .string_len(36)
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(AgendaLeads::ItemId)
                        .col(AgendaLeads::UserId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agenda_leads_item")
                        .from(AgendaLeads::Table, AgendaLeads::ItemId)
                        .to(AgendaItems::Table, AgendaItems::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agenda_leads_user")
                        .from(AgendaLeads::Table, AgendaLeads::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgendaStatusHistory::Table)
                .col(
                    ColumnDef::new(AgendaStatusHistory::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AgendaStatusHistory::ItemId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaStatusHistory::FromStatus)
                        .string_len(20)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaStatusHistory::ToStatus)
                        .string_len(20)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AgendaStatusHistory::At)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agenda_history_item")
                        .from(AgendaStatusHistory::Table, AgendaStatusHistory::ItemId)
                        .to(AgendaItems::Table, AgendaItems::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_agenda_history_item")
                .table(AgendaStatusHistory::Table)
                .col(AgendaStatusHistory::ItemId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AgendaVersions::Table)
                .col(
                    ColumnDef::new(AgendaVersions::RoundId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(AgendaVersions::Number).integer().not_null())
                .col(ColumnDef::new(AgendaVersions::Snapshot).text().not_null())
                .col(
                    ColumnDef::new(AgendaVersions::PublishedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(AgendaVersions::RoundId)
                        .col(AgendaVersions::Number),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_agenda_versions_round")
                        .from(AgendaVersions::Table, AgendaVersions::RoundId)
                        .to(Rounds::Table, Rounds::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AgendaVersions::Table.into_iden(),
            AgendaStatusHistory::Table.into_iden(),
            AgendaLeads::Table.into_iden(),
            AgendaTopics::Table.into_iden(),
            AgendaItems::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
