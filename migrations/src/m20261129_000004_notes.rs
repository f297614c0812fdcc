//! Notes under the Chatham House Rule, summaries and the joint statement.
//!
//! Non-attribution by construction: `chatham_notes` has no author column and nothing links it
//! to an account; only the hash of the author's edit key is kept. Its ids are random UUIDv4 and
//! it carries the date only. On SQLite the table is `WITHOUT ROWID`, so rows are stored in id
//! order and a copy of the file keeps no insertion order. Bodies are sealed with the data key.
//! Statement approvals record which side approved, never who.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

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
}

#[derive(DeriveIden)]
enum PrivateNotes {
    Table,
    Id,
    RoundId,
    AuthorId,
    AgendaItemId,
    BodySealed,
    KeyId,
    CreatedOn,
}

#[derive(DeriveIden)]
enum ChathamNotes {
    Table,
    Id,
    RoundId,
    AgendaItemId,
    BodySealed,
    KeyId,
    EditKeyHash,
    Released,
    CreatedOn,
}

#[derive(DeriveIden)]
enum Summaries {
    Table,
    AgendaItemId,
    BodySealed,
    KeyId,
    UpdatedOn,
}

#[derive(DeriveIden)]
enum Statements {
    Table,
    RoundId,
    Version,
    BodySealed,
    KeyId,
    Adopted,
    UpdatedOn,
}

#[derive(DeriveIden)]
enum StatementApprovals {
    Table,
    RoundId,
    Version,
    SideKey,
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
                .table(PrivateNotes::Table)
                .col(
                    ColumnDef::new(PrivateNotes::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(PrivateNotes::RoundId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PrivateNotes::AuthorId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PrivateNotes::AgendaItemId)
                        .string_len(36)
                        .null(),
                )
                .col(ColumnDef::new(PrivateNotes::BodySealed).text().not_null())
                .col(
                    ColumnDef::new(PrivateNotes::KeyId)
                        .string_len(40)
                        .not_null(),
                )
                .col(ColumnDef::new(PrivateNotes::CreatedOn).date().not_null())
                .foreign_key(&mut fk(
                    "fk_private_notes_round",
                    (PrivateNotes::Table, PrivateNotes::RoundId),
                    (Rounds::Table, Rounds::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_private_notes_author",
                    (PrivateNotes::Table, PrivateNotes::AuthorId),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_private_notes_item",
                    (PrivateNotes::Table, PrivateNotes::AgendaItemId),
                    (AgendaItems::Table, AgendaItems::Id),
                    ForeignKeyAction::SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_private_notes_author")
                .table(PrivateNotes::Table)
                .col(PrivateNotes::AuthorId)
                .col(PrivateNotes::Id)
                .to_owned(),
        )
        .await?;

        let mut chatham = Table::create()
            .table(ChathamNotes::Table)
            .col(
                ColumnDef::new(ChathamNotes::Id)
                    .string_len(36)
                    .not_null()
                    .primary_key(),
            )
            .col(
                ColumnDef::new(ChathamNotes::RoundId)
                    .string_len(36)
                    .not_null(),
            )
            .col(
                ColumnDef::new(ChathamNotes::AgendaItemId)
                    .string_len(36)
                    .null(),
            )
            .col(ColumnDef::new(ChathamNotes::BodySealed).text().not_null())
            .col(
                ColumnDef::new(ChathamNotes::KeyId)
                    .string_len(40)
                    .not_null(),
            )
            .col(
                ColumnDef::new(ChathamNotes::EditKeyHash)
                    .string_len(64)
                    .not_null(),
            )
            .col(
                ColumnDef::new(ChathamNotes::Released)
                    .boolean()
                    .not_null()
                    .default(false),
            )
            .col(ColumnDef::new(ChathamNotes::CreatedOn).date().not_null())
            .foreign_key(&mut fk(
                "fk_chatham_notes_round",
                (ChathamNotes::Table, ChathamNotes::RoundId),
                (Rounds::Table, Rounds::Id),
                ForeignKeyAction::Cascade,
            ))
            .foreign_key(&mut fk(
                "fk_chatham_notes_item",
                (ChathamNotes::Table, ChathamNotes::AgendaItemId),
                (AgendaItems::Table, AgendaItems::Id),
                ForeignKeyAction::SetNull,
            ))
            .to_owned();
        if m.get_database_backend() == DbBackend::Sqlite {
            // Rows live in primary-key (random id) order: no hidden rowid records insertion order.
            let sql = m.get_database_backend().build(&chatham).to_string();
            m.get_connection()
                .execute_unprepared(&format!("{sql} WITHOUT ROWID"))
                .await?;
        } else {
            m.create_table(chatham.take()).await?;
        }
        m.create_index(
            Index::create()
                .name("ix_chatham_notes_round")
                .table(ChathamNotes::Table)
                .col(ChathamNotes::RoundId)
                .col(ChathamNotes::Released)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Summaries::Table)
                .col(
                    ColumnDef::new(Summaries::AgendaItemId)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Summaries::BodySealed).text().not_null())
                .col(ColumnDef::new(Summaries::KeyId).string_len(40).not_null())
                .col(ColumnDef::new(Summaries::UpdatedOn).date().not_null())
                .foreign_key(&mut fk(
                    "fk_summaries_item",
                    (Summaries::Table, Summaries::AgendaItemId),
                    (AgendaItems::Table, AgendaItems::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Statements::Table)
                .col(
                    ColumnDef::new(Statements::RoundId)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Statements::Version).integer().not_null())
                .col(ColumnDef::new(Statements::BodySealed).text().not_null())
                .col(ColumnDef::new(Statements::KeyId).string_len(40).not_null())
                .col(
                    ColumnDef::new(Statements::Adopted)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(ColumnDef::new(Statements::UpdatedOn).date().not_null())
                .foreign_key(&mut fk(
                    "fk_statements_round",
                    (Statements::Table, Statements::RoundId),
                    (Rounds::Table, Rounds::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(StatementApprovals::Table)
                .col(
                    ColumnDef::new(StatementApprovals::RoundId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(StatementApprovals::Version)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(StatementApprovals::SideKey)
                        .string_len(40)
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(StatementApprovals::RoundId)
                        .col(StatementApprovals::Version)
                        .col(StatementApprovals::SideKey),
                )
                .foreign_key(&mut fk(
                    "fk_statement_approvals_round",
                    (StatementApprovals::Table, StatementApprovals::RoundId),
                    (Rounds::Table, Rounds::Id),
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            StatementApprovals::Table.into_iden(),
            Statements::Table.into_iden(),
            Summaries::Table.into_iden(),
            ChathamNotes::Table.into_iden(),
            PrivateNotes::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
