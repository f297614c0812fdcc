//! Webhooks of a dialogue and their delivery outbox. A webhook's signing secret is sealed with
//! the data key (it must be read back to sign, so it cannot be a hash); deliveries carry ids and
//! non-confidential fields only, and are claimed by one node at a time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Dialogues {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    DialogueId,
    Url,
    Events,
    Description,
    SecretSealed,
    KeyId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventId,
    Event,
    Payload,
    State,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastStatus,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Webhooks::Table)
                .col(
                    ColumnDef::new(Webhooks::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Webhooks::DialogueId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(Webhooks::Url).string_len(2000).not_null())
                .col(ColumnDef::new(Webhooks::Events).string_len(400).not_null())
                .col(ColumnDef::new(Webhooks::Description).string_len(200).null())
                .col(ColumnDef::new(Webhooks::SecretSealed).text().not_null())
                .col(ColumnDef::new(Webhooks::KeyId).string_len(32).not_null())
                .col(
                    ColumnDef::new(Webhooks::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhooks_dialogue")
                        .from(Webhooks::Table, Webhooks::DialogueId)
                        .to(Dialogues::Table, Dialogues::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhooks_dialogue")
                .table(Webhooks::Table)
                .col(Webhooks::DialogueId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookDeliveries::Table)
                .col(
                    ColumnDef::new(WebhookDeliveries::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::WebhookId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::EventId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::Event)
                        .string_len(50)
                        .not_null(),
                )
                .col(ColumnDef::new(WebhookDeliveries::Payload).text().not_null())
                .col(
                    ColumnDef::new(WebhookDeliveries::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::Attempts)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::ClaimedUntil)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::LastStatus)
                        .integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::LastError)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(WebhookDeliveries::DeliveredAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_deliveries_webhook")
                        .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                        .to(Webhooks::Table, Webhooks::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_deliveries_due")
                .table(WebhookDeliveries::Table)
                .col(WebhookDeliveries::State)
                .col(WebhookDeliveries::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_deliveries_webhook")
                .table(WebhookDeliveries::Table)
                .col(WebhookDeliveries::WebhookId)
                .col(WebhookDeliveries::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Webhooks::Table).to_owned())
            .await
    }
}
