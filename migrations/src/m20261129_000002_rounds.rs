//! Dialogues, their sides and organizers; rounds; invitations; participants; the audit trail;
//! and the durable mail outbox.
//!
//! Invitation tokens are stored only as a SHA-256 hash. Outbox messages (which carry an invitation
//! link and an invitee's address) are stored sealed with the data key and deleted once sent.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Dialogues {
    Table,
    Id,
    Name,
    Description,
    Format,
    ParityTolerance,
    Rule,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DialogueSides {
    Table,
    DialogueId,
    Key,
    Name,
    Country,
    DelegationLimit,
    Neutral,
    Position,
}

#[derive(DeriveIden)]
enum DialogueOrganizers {
    Table,
    DialogueId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Rounds {
    Table,
    Id,
    DialogueId,
    Sequence,
    Title,
    VenueName,
    VenueCity,
    VenueCountry,
    Timezone,
    StartsOn,
    EndsOn,
    Status,
    Rule,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    RoundId,
    Email,
    EmailKey,
    Name,
    SideKey,
    Role,
    Message,
    TokenHash,
    Status,
    ExpiresAt,
    CreatedAt,
    CreatedBy,
    RespondedAt,
    ReminderSentAt,
    UserId,
}

#[derive(DeriveIden)]
enum Participants {
    Table,
    RoundId,
    UserId,
    SideKey,
    Role,
    Attendance,
    JoinedAt,
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Id,
    DialogueId,
    RoundId,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Detail,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    Kind,
    Sealed,
    KeyId,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    Failed,
    CreatedAt,
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .string_len(36)
        .not_null()
        .primary_key()
        .to_owned()
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Dialogues::Table)
                .col(id(Dialogues::Id))
                .col(ColumnDef::new(Dialogues::Name).string_len(200).not_null())
                .col(ColumnDef::new(Dialogues::Description).text().null())
                .col(ColumnDef::new(Dialogues::Format).string_len(20).not_null())
                .col(
                    ColumnDef::new(Dialogues::ParityTolerance)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Dialogues::Rule).string_len(30).not_null())
                .col(
                    ColumnDef::new(Dialogues::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Dialogues::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DialogueSides::Table)
                .col(
                    ColumnDef::new(DialogueSides::DialogueId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(DialogueSides::Key).string_len(40).not_null())
                .col(
                    ColumnDef::new(DialogueSides::Name)
                        .string_len(100)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DialogueSides::Country)
                        .string_len(100)
                        .null(),
                )
                .col(
                    ColumnDef::new(DialogueSides::DelegationLimit)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DialogueSides::Neutral)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(ColumnDef::new(DialogueSides::Position).integer().not_null())
                .primary_key(
                    Index::create()
                        .col(DialogueSides::DialogueId)
                        .col(DialogueSides::Key),
                )
                .foreign_key(&mut fk(
                    "fk_sides_dialogue",
                    (DialogueSides::Table, DialogueSides::DialogueId),
                    (Dialogues::Table, Dialogues::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(DialogueOrganizers::Table)
                .col(
                    ColumnDef::new(DialogueOrganizers::DialogueId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DialogueOrganizers::UserId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(DialogueOrganizers::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(DialogueOrganizers::DialogueId)
                        .col(DialogueOrganizers::UserId),
                )
                .foreign_key(&mut fk(
                    "fk_organizers_dialogue",
                    (DialogueOrganizers::Table, DialogueOrganizers::DialogueId),
                    (Dialogues::Table, Dialogues::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_organizers_user",
                    (DialogueOrganizers::Table, DialogueOrganizers::UserId),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_organizers_user")
                .table(DialogueOrganizers::Table)
                .col(DialogueOrganizers::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Rounds::Table)
                .col(id(Rounds::Id))
                .col(ColumnDef::new(Rounds::DialogueId).string_len(36).not_null())
                .col(ColumnDef::new(Rounds::Sequence).integer().not_null())
                .col(ColumnDef::new(Rounds::Title).string_len(200).not_null())
                .col(ColumnDef::new(Rounds::VenueName).string_len(200).null())
                .col(ColumnDef::new(Rounds::VenueCity).string_len(100).null())
                .col(ColumnDef::new(Rounds::VenueCountry).string_len(100).null())
                .col(ColumnDef::new(Rounds::Timezone).string_len(64).not_null())
                .col(ColumnDef::new(Rounds::StartsOn).date().not_null())
                .col(ColumnDef::new(Rounds::EndsOn).date().not_null())
                .col(ColumnDef::new(Rounds::Status).string_len(20).not_null())
                .col(ColumnDef::new(Rounds::Rule).string_len(30).not_null())
                .col(
                    ColumnDef::new(Rounds::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Rounds::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(&mut fk(
                    "fk_rounds_dialogue",
                    (Rounds::Table, Rounds::DialogueId),
                    (Dialogues::Table, Dialogues::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_rounds_dialogue_sequence")
                .table(Rounds::Table)
                .col(Rounds::DialogueId)
                .col(Rounds::Sequence)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Invitations::Table)
                .col(id(Invitations::Id))
                .col(
                    ColumnDef::new(Invitations::RoundId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Invitations::Email)
                        .string_len(254)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Invitations::EmailKey)
                        .string_len(254)
                        .not_null(),
                )
                .col(ColumnDef::new(Invitations::Name).string_len(200).not_null())
                .col(
                    ColumnDef::new(Invitations::SideKey)
                        .string_len(40)
                        .not_null(),
                )
                .col(ColumnDef::new(Invitations::Role).string_len(20).not_null())
                .col(ColumnDef::new(Invitations::Message).text().null())
                .col(
                    ColumnDef::new(Invitations::TokenHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Invitations::Status)
                        .string_len(20)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Invitations::ExpiresAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Invitations::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(Invitations::CreatedBy).string_len(36).null())
                .col(
                    ColumnDef::new(Invitations::RespondedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(Invitations::ReminderSentAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(Invitations::UserId).string_len(36).null())
                .foreign_key(&mut fk(
                    "fk_invitations_round",
                    (Invitations::Table, Invitations::RoundId),
                    (Rounds::Table, Rounds::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_invitations_creator",
                    (Invitations::Table, Invitations::CreatedBy),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::SetNull,
                ))
                .foreign_key(&mut fk(
                    "fk_invitations_user",
                    (Invitations::Table, Invitations::UserId),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_invitations_token_hash")
                .table(Invitations::Table)
                .col(Invitations::TokenHash)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invitations_round")
                .table(Invitations::Table)
                .col(Invitations::RoundId)
                .col(Invitations::Status)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Participants::Table)
                .col(
                    ColumnDef::new(Participants::RoundId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Participants::UserId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Participants::SideKey)
                        .string_len(40)
                        .not_null(),
                )
                .col(ColumnDef::new(Participants::Role).string_len(20).not_null())
                .col(
                    ColumnDef::new(Participants::Attendance)
                        .string_len(20)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Participants::JoinedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(Participants::RoundId)
                        .col(Participants::UserId),
                )
                .foreign_key(&mut fk(
                    "fk_participants_round",
                    (Participants::Table, Participants::RoundId),
                    (Rounds::Table, Rounds::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_participants_user",
                    (Participants::Table, Participants::UserId),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_participants_user")
                .table(Participants::Table)
                .col(Participants::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEntries::Table)
                .col(
                    ColumnDef::new(AuditEntries::Id)
                        .integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AuditEntries::DialogueId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEntries::RoundId).string_len(36).null())
                .col(ColumnDef::new(AuditEntries::ActorId).string_len(36).null())
                .col(
                    ColumnDef::new(AuditEntries::Action)
                        .string_len(60)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditEntries::TargetType)
                        .string_len(30)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEntries::TargetId).string_len(36).null())
                .col(ColumnDef::new(AuditEntries::Detail).text().null())
                .col(
                    ColumnDef::new(AuditEntries::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(&mut fk(
                    "fk_audit_dialogue",
                    (AuditEntries::Table, AuditEntries::DialogueId),
                    (Dialogues::Table, Dialogues::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_audit_actor",
                    (AuditEntries::Table, AuditEntries::ActorId),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_dialogue")
                .table(AuditEntries::Table)
                .col(AuditEntries::DialogueId)
                .col(AuditEntries::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MailOutbox::Table)
                .col(id(MailOutbox::Id))
                .col(ColumnDef::new(MailOutbox::Kind).string_len(30).not_null())
                .col(ColumnDef::new(MailOutbox::Sealed).text().not_null())
                .col(ColumnDef::new(MailOutbox::KeyId).string_len(40).not_null())
                .col(
                    ColumnDef::new(MailOutbox::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(MailOutbox::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(MailOutbox::ClaimedUntil)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(MailOutbox::LastError).string_len(200).null())
                .col(
                    ColumnDef::new(MailOutbox::Failed)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(MailOutbox::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_outbox_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::Failed)
                .col(MailOutbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MailOutbox::Table.into_iden(),
            AuditEntries::Table.into_iden(),
            Participants::Table.into_iden(),
            Invitations::Table.into_iden(),
            Rounds::Table.into_iden(),
            DialogueOrganizers::Table.into_iden(),
            DialogueSides::Table.into_iden(),
            Dialogues::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
