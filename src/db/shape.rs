//! SQL text built once, for the queries of every request whose shape never changes.
//!
//! sea-query builds a statement's text anew on each call; for the session lookup and the seat
//! check, which run on every authenticated request, that took about a fifth of the
//! authentication's time. A `Shape` keeps the text per backend and binds fresh values to it.
//! The values must be given in the order the built statement binds them: debug builds (so
//! every test run, on both databases) build the statement on every call and assert that text
//! and values agree with the cached ones.

use std::sync::OnceLock;

use sea_orm::sea_query::Value;
use sea_orm::{DbBackend, Statement};

pub struct Shape {
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape::new()
    }
}

impl Shape {
    pub const fn new() -> Self {
        Shape {
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The statement `build` makes for `backend`, with `values` (in its binding order).
    pub fn statement(
        &self,
        backend: DbBackend,
        values: Vec<Value>,
        build: impl FnOnce() -> Statement,
    ) -> Statement {
        let cell = match backend {
            DbBackend::Postgres => &self.postgres,
            _ => &self.sqlite,
        };
        if cfg!(debug_assertions) {
            let built = build();
            let bound = built.values.as_ref().map(|v| v.0.as_slice()).unwrap_or(&[]);
            assert_eq!(
                bound,
                values.as_slice(),
                "values out of order for {}",
                built.sql
            );
            assert_eq!(cell.get_or_init(|| built.sql.clone()), &built.sql);
            return built;
        }
        let sql = cell.get_or_init(|| build().sql).clone();
        Statement::from_sql_and_values(backend, sql, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(a: &str, b: &str) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT 1 WHERE ? < ?",
            [a.into(), b.into()],
        )
    }

    #[test]
    fn later_calls_bind_their_own_values_to_the_same_text() {
        let shape = Shape::new();
        let first = shape.statement(DbBackend::Sqlite, vec!["a".into(), "b".into()], || {
            build("a", "b")
        });
        let second = shape.statement(DbBackend::Sqlite, vec!["c".into(), "d".into()], || {
            build("c", "d")
        });
        assert_eq!(first.sql, second.sql);
        assert_eq!(
            second.values.unwrap().0,
            vec![Value::from("c"), Value::from("d")]
        );
    }

    #[test]
    #[should_panic(expected = "values out of order")]
    fn values_in_another_order_than_the_statement_binds_are_caught() {
        let shape = Shape::new();
        shape.statement(DbBackend::Sqlite, vec!["b".into(), "a".into()], || {
            build("a", "b")
        });
    }
}
