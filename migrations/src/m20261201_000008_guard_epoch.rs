//! A round's guard epoch (`epoch`): advanced by the database whenever anything the attribution
//! guard reads for that round changes: its participants and their roles; the names, emails and
//! affiliations of their accounts; the dialogue's sides. Other account changes (a login, a
//! password) leave it be. A deleted account leaves its rounds through the participants'
//! cascade, which fires that table's trigger.

use sea_orm_migration::prelude::*;

use crate::epoch::{Epoch, Source};

#[derive(DeriveMigrationName)]
pub struct Migration;

const GUARD: Epoch = Epoch {
    column: "guard_epoch",
    sources: &[
        Source {
            table: "participants",
            rounds: "id = {row}.round_id",
            columns: &[],
        },
        Source {
            table: "users",
            rounds: "id IN (SELECT round_id FROM participants WHERE user_id = {row}.id)",
            columns: &["display_name", "email", "affiliation"],
        },
        Source {
            table: "dialogue_sides",
            rounds: "dialogue_id = {row}.dialogue_id",
            columns: &[],
        },
    ],
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        GUARD.up(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        GUARD.down(m).await
    }
}
