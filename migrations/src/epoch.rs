//! Per-round epochs kept by triggers: a `rounds` column that the database advances whenever a
//! row that feeds some view of the round changes. A node keeps what it built from those rows
//! under the epoch it read with the round, and uses it only while the round's epoch is the same;
//! since the database keeps the count, a change through any node (or none) retires every copy.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// A table whose rows feed the view, and how to find the rounds a row touches.
pub struct Source {
    pub table: &'static str,
    /// SQL over the trigger's row, spelled `{row}` (`NEW` or `OLD`): which `rounds` it touches.
    pub rounds: &'static str,
    /// Only changes to these columns count (updates only; inserts and deletes are not watched).
    /// Empty: every insert, update and delete counts.
    pub columns: &'static [&'static str],
}

/// An epoch column of `rounds` and the tables that advance it.
pub struct Epoch {
    pub column: &'static str,
    pub sources: &'static [Source],
}

impl Epoch {
    fn bump(&self, source: &Source, row: &str) -> String {
        format!(
            "UPDATE rounds SET {c} = {c} + 1 WHERE {w};",
            c = self.column,
            w = source.rounds.replace("{row}", row)
        )
    }

    /// `OLD.c <distinct> NEW.c OR ...` over the watched columns.
    fn changed(source: &Source, distinct: &str) -> String {
        source
            .columns
            .iter()
            .map(|c| format!("OLD.{c} {distinct} NEW.{c}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    fn name(&self, source: &Source) -> String {
        format!("{}_{}", self.column, source.table)
    }

    fn sqlite(&self) -> Vec<String> {
        let mut sql = Vec::new();
        for s in self.sources {
            let name = self.name(s);
            let when = if s.columns.is_empty() {
                String::new()
            } else {
                format!(" WHEN {}", Self::changed(s, "IS NOT"))
            };
            sql.push(format!(
                "CREATE TRIGGER {name}_update AFTER UPDATE ON {t} FOR EACH ROW{when} \
                 BEGIN {} {} END",
                self.bump(s, "OLD"),
                self.bump(s, "NEW"),
                t = s.table,
            ));
            if !s.columns.is_empty() {
                continue;
            }
            sql.push(format!(
                "CREATE TRIGGER {name}_insert AFTER INSERT ON {t} BEGIN {} END",
                self.bump(s, "NEW"),
                t = s.table,
            ));
            sql.push(format!(
                "CREATE TRIGGER {name}_delete AFTER DELETE ON {t} BEGIN {} END",
                self.bump(s, "OLD"),
                t = s.table,
            ));
        }
        sql
    }

    fn postgres(&self) -> Vec<String> {
        let mut sql = Vec::new();
        for s in self.sources {
            let name = self.name(s);
            sql.push(format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF TG_OP <> 'INSERT' THEN {} END IF; \
                 IF TG_OP <> 'DELETE' THEN {} END IF; \
                 RETURN NULL; END $$",
                self.bump(s, "OLD"),
                self.bump(s, "NEW")
            ));
            let (events, when) = if s.columns.is_empty() {
                ("INSERT OR UPDATE OR DELETE", String::new())
            } else {
                (
                    "UPDATE",
                    format!(" WHEN ({})", Self::changed(s, "IS DISTINCT FROM")),
                )
            };
            sql.push(format!(
                "CREATE TRIGGER {name} AFTER {events} ON {t} FOR EACH ROW{when} \
                 EXECUTE FUNCTION {name}()",
                t = s.table
            ));
        }
        sql
    }

    /// Adds the column (starting at 0) and its triggers.
    pub async fn up(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("rounds"))
                .add_column(
                    ColumnDef::new(Alias::new(self.column))
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        let triggers = match m.get_database_backend() {
            DbBackend::Sqlite => self.sqlite(),
            _ => self.postgres(),
        };
        for sql in triggers {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    /// Drops the triggers and the column.
    pub async fn down(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        let sqlite = m.get_database_backend() == DbBackend::Sqlite;
        for s in self.sources {
            let name = self.name(s);
            let sql = if sqlite {
                ["insert", "update", "delete"]
                    .map(|op| format!("DROP TRIGGER IF EXISTS {name}_{op};"))
                    .concat()
            } else {
                format!(
                    "DROP TRIGGER IF EXISTS {name} ON {t}; DROP FUNCTION IF EXISTS {name}();",
                    t = s.table
                )
            };
            m.get_connection().execute_unprepared(&sql).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Alias::new("rounds"))
                .drop_column(Alias::new(self.column))
                .to_owned(),
        )
        .await
    }
}
