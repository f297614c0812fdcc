//! A round's agenda epoch (`epoch`): advanced by the database whenever anything a round's
//! agenda list shows changes: its items, their topics and leads, its published versions, and
//! the display names of its leads.

use sea_orm_migration::prelude::*;

use crate::epoch::{Epoch, Source};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ITEM_ROUND: &str = "id = (SELECT round_id FROM agenda_items WHERE id = {row}.item_id)";

const AGENDA: Epoch = Epoch {
    column: "agenda_epoch",
    sources: &[
        Source {
            table: "agenda_items",
            rounds: "id = {row}.round_id",
            columns: &[],
        },
        Source {
            table: "agenda_topics",
            rounds: ITEM_ROUND,
            columns: &[],
        },
        Source {
            table: "agenda_leads",
            rounds: ITEM_ROUND,
            columns: &[],
        },
        Source {
            table: "agenda_versions",
            rounds: "id = {row}.round_id",
            columns: &[],
        },
        Source {
            table: "users",
            rounds: "id IN (SELECT i.round_id FROM agenda_leads l \
                     JOIN agenda_items i ON i.id = l.item_id WHERE l.user_id = {row}.id)",
            columns: &["display_name"],
        },
    ],
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        AGENDA.up(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        AGENDA.down(m).await
    }
}
