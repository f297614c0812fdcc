//! A round's guard epoch: a counter the database itself advances whenever anything the
//! attribution guard reads for that round changes (its participants and their roles; the names,
//! emails and affiliations of their accounts; the dialogue's sides). A node may keep a built
//! guard for as long as the round's epoch is the one it was built at, and every node reads the
//! epoch with the round on each request, so a change made through any node, or straight in the
//! database, retires every copy. Triggers keep the counter, so no write path can forget it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rounds {
    Table,
    GuardEpoch,
}

/// The rounds whose guard a change touches, per table, as SQL over the trigger's row `{row}`
/// (`NEW` or `OLD`).
const TOUCHES: [(&str, &str); 3] = [
    ("participants", "id = {row}.round_id"),
    (
        "users",
        "id IN (SELECT round_id FROM participants WHERE user_id = {row}.id)",
    ),
    ("dialogue_sides", "dialogue_id = {row}.dialogue_id"),
];

/// Account columns the guard reads; other account changes (a login, a password) leave it be.
const USER_COLUMNS: [&str; 3] = ["display_name", "email", "affiliation"];

fn bump(table: &str, row: &str) -> String {
    let which = TOUCHES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, w)| w.replace("{row}", row))
        .expect("a guarded table");
    format!("UPDATE rounds SET guard_epoch = guard_epoch + 1 WHERE {which};")
}

/// `OLD.c IS DISTINCT FROM NEW.c OR ...` for the account columns, in the backend's spelling.
fn user_changed(distinct: &str) -> String {
    USER_COLUMNS
        .iter()
        .map(|c| format!("OLD.{c} {distinct} NEW.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn sqlite_triggers() -> Vec<String> {
    let mut sql = Vec::new();
    for (table, _) in TOUCHES {
        let when = if table == "users" {
            format!(" WHEN {}", user_changed("IS NOT"))
        } else {
            String::new()
        };
        sql.push(format!(
            "CREATE TRIGGER guard_epoch_{table}_update AFTER UPDATE ON {table} FOR EACH ROW{when} \
             BEGIN {} {} END",
            bump(table, "OLD"),
            bump(table, "NEW")
        ));
        if table == "users" {
            // A new account sits in no round; a deleted one leaves its rounds through the
            // participants' cascade, which fires that table's trigger.
            continue;
        }
        sql.push(format!(
            "CREATE TRIGGER guard_epoch_{table}_insert AFTER INSERT ON {table} BEGIN {} END",
            bump(table, "NEW")
        ));
        sql.push(format!(
            "CREATE TRIGGER guard_epoch_{table}_delete AFTER DELETE ON {table} BEGIN {} END",
            bump(table, "OLD")
        ));
    }
    sql
}

fn postgres_triggers() -> Vec<String> {
    let mut sql = Vec::new();
    for (table, _) in TOUCHES {
        sql.push(format!(
            "CREATE FUNCTION guard_epoch_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF TG_OP <> 'INSERT' THEN {} END IF; \
             IF TG_OP <> 'DELETE' THEN {} END IF; \
             RETURN NULL; END $$",
            bump(table, "OLD"),
            bump(table, "NEW")
        ));
        let (events, when) = if table == "users" {
            (
                "UPDATE",
                format!(" WHEN ({})", user_changed("IS DISTINCT FROM")),
            )
        } else {
            ("INSERT OR UPDATE OR DELETE", String::new())
        };
        sql.push(format!(
            "CREATE TRIGGER guard_epoch_{table} AFTER {events} ON {table} FOR EACH ROW{when} \
             EXECUTE FUNCTION guard_epoch_{table}()"
        ));
    }
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Rounds::Table)
                .add_column(
                    ColumnDef::new(Rounds::GuardEpoch)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        let triggers = match m.get_database_backend() {
            DbBackend::Sqlite => sqlite_triggers(),
            _ => postgres_triggers(),
        };
        for sql in triggers {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = m.get_database_backend() == DbBackend::Sqlite;
        for (table, _) in TOUCHES {
            let sql = if sqlite {
                ["insert", "update", "delete"]
                    .map(|op| format!("DROP TRIGGER IF EXISTS guard_epoch_{table}_{op};"))
                    .concat()
            } else {
                format!(
                    "DROP TRIGGER IF EXISTS guard_epoch_{table} ON {table}; \
                     DROP FUNCTION IF EXISTS guard_epoch_{table}();"
                )
            };
            m.get_connection().execute_unprepared(&sql).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Rounds::Table)
                .drop_column(Rounds::GuardEpoch)
                .to_owned(),
        )
        .await
    }
}
