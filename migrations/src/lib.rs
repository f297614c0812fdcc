//! The ordered list of schema migrations. A migration that has landed is never edited:
//! changes come as a new file appended here.

pub use sea_orm_migration::prelude::*;

mod epoch;

mod m20261129_000001_accounts;
mod m20261129_000002_rounds;
mod m20261129_000003_agenda;
mod m20261129_000004_notes;
mod m20261129_000005_api_tokens;
mod m20261129_000006_calendar_feeds;
mod m20261201_000007_webhooks;
mod m20261201_000008_guard_epoch;
mod m20261201_000009_agenda_epoch;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_accounts::Migration),
            Box::new(m20261129_000002_rounds::Migration),
            Box::new(m20261129_000003_agenda::Migration),
            Box::new(m20261129_000004_notes::Migration),
            Box::new(m20261129_000005_api_tokens::Migration),
            Box::new(m20261129_000006_calendar_feeds::Migration),
            Box::new(m20261201_000007_webhooks::Migration),
            Box::new(m20261201_000008_guard_epoch::Migration),
            Box::new(m20261201_000009_agenda_epoch::Migration),
        ]
    }
}
