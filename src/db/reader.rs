//! Reads on the request's own thread, for SQLite.
//!
//! sqlx runs every SQLite connection on a worker thread of its own: each query is handed over a
//! channel and its rows handed back, two thread wake-ups per query. Under load those wake-ups
//! (futexes and context switches) cost more than SQLite's own work for the short reads of an
//! authenticated request: the session, the caller's seat in a round, an agenda. `Reader` runs
//! such reads synchronously on the calling thread, over a few read-only connections of its own,
//! and hands sea-orm the rows, so every query in `store/` runs unchanged on either path.
//! Writes and transactions never come here: they stay on the sqlx pool (`Reader` refuses them,
//! and its connections are `query_only`). On PostgreSQL `Reader` is the pool itself.
//!
//! What a read may block. A read here holds its thread for as long as SQLite takes, so only
//! bounded reads belong here: point lookups and lists of a round (at most a page or an agenda's
//! 200 items). Long scans, such as a topic's history across rounds, stay on the pool.
//!
//! Typing the rows. sea-orm decodes these rows through `ProxyRow`, which needs each value
//! already in the variant its Rust type expects, and which reads a mismatched value as NULL,
//! so a wrongly typed `revoked_at` would read as "not revoked". Each column is therefore typed
//! by the entity that declares it: SQLite reports a result column's table and column of origin,
//! and `COLUMN_KINDS` holds every entity column's sea-orm type. A stored value that does not
//! parse as its column's type is an error, never a NULL. Computed columns (counts, literals)
//! take SQLite's own type; no query that comes here computes a boolean or a timestamp.
//! Bound values are encoded exactly as sqlx encodes them, so comparisons with stored text
//! (timestamps above all) agree on both paths.

use std::any::TypeId;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sea_orm::sea_query::ValueType;
use sea_orm::sea_query::{OptionEnum, Value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ColumnType, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryResult, QuerySelect,
    QueryTrait, RuntimeErr, Select, Statement, TryGetable, TryIntoModel,
};

/// Where bounded reads go: the request's own thread on SQLite, the pool on PostgreSQL.
#[derive(Clone)]
pub enum Reader {
    Pool(DatabaseConnection),
    Sqlite(SqliteReader),
}

impl Reader {
    /// The reader for `db`: in-thread connections to the same file on SQLite, `db` otherwise.
    pub fn for_pool(db: &DatabaseConnection, busy_timeout: Duration) -> Self {
        match db.get_database_backend() {
            DbBackend::Sqlite => {
                let options = db.get_sqlite_connection_pool().connect_options();
                Reader::Sqlite(SqliteReader::new(options.get_filename(), busy_timeout))
            }
            _ => Reader::Pool(db.clone()),
        }
    }
}

/// Something reads can be fetched from: the [`Reader`], or any connection or transaction of
/// the pool (so a store function serves both a plain read and a read inside a transaction).
#[async_trait::async_trait]
pub trait Fetch: Sync {
    fn backend(&self) -> DbBackend;

    async fn fetch(&self, stmt: Statement) -> Result<Vec<Row>, DbErr>;

    /// The first row. Build the query with `LIMIT 1` when more could match.
    async fn fetch_one(&self, stmt: Statement) -> Result<Option<Row>, DbErr> {
        Ok(self.fetch(stmt).await?.into_iter().next())
    }
}

#[async_trait::async_trait]
impl<C: ConnectionTrait> Fetch for C {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    async fn fetch(&self, stmt: Statement) -> Result<Vec<Row>, DbErr> {
        Ok(self
            .query_all_raw(stmt)
            .await?
            .into_iter()
            .map(Row::Pool)
            .collect())
    }
}

#[async_trait::async_trait]
impl Fetch for Reader {
    fn backend(&self) -> DbBackend {
        match self {
            Reader::Pool(db) => db.get_database_backend(),
            Reader::Sqlite(_) => DbBackend::Sqlite,
        }
    }

    async fn fetch(&self, stmt: Statement) -> Result<Vec<Row>, DbErr> {
        match self {
            Reader::Pool(db) => db.fetch(stmt).await,
            Reader::Sqlite(reader) => reader.query(&stmt),
        }
    }
}

/// The entities a select yields, from either path (`Select::all` over [`Fetch`]).
pub async fn all<E: EntityTrait>(db: &impl Fetch, select: Select<E>) -> Result<Vec<E::Model>, DbErr>
where
    E::Model: FromQueryResult,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    models::<E>(&db.fetch(select.build(db.backend())).await?, "")
}

/// The first entity a select yields (`Select::one` over [`Fetch`]).
pub async fn one<E: EntityTrait>(
    db: &impl Fetch,
    select: Select<E>,
) -> Result<Option<E::Model>, DbErr>
where
    E::Model: FromQueryResult,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let stmt = select.limit(1).build(db.backend());
    db.fetch_one(stmt)
        .await?
        .map(|row| row.model::<E>(""))
        .transpose()
}

/// The hasher of the maps below, keyed by SQL text and column names: the program's own
/// strings, never a client's, so a fast hash does not open a flooding attack.
type FastHash = foldhash::fast::RandomState;

/// One result row, from either path.
pub enum Row {
    Pool(QueryResult),
    Sqlite(SqliteRow),
}

/// A row read in-thread: values typed by their columns' entities (module docs).
pub struct SqliteRow {
    described: Arc<Described>,
    values: Vec<Value>,
}

/// A statement's result columns: names, kinds, and where each name sits. The same for every
/// execution of one SQL text, so worked out once per text and thread ([`described`]).
struct Described {
    columns: Vec<(String, Kind)>,
    by_name: HashMap<String, usize, FastHash>,
    /// Where each entity's columns sit, in the order of its `Column` enum, by entity and
    /// prefix: worked out at the first row that asks and the same for every later one.
    layouts: Mutex<Vec<Layout>>,
}

/// One entity's columns in a result: the entity, its prefix, and each column's position.
type Layout = (TypeId, String, Arc<[usize]>);

impl SqliteRow {
    /// Where `{prefix}{column}` sits in the row.
    fn index(&self, prefix: &str, column: &str) -> Result<usize, DbErr> {
        let found = if prefix.is_empty() {
            self.described.by_name.get(column)
        } else {
            self.described.by_name.get(&format!("{prefix}{column}"))
        };
        found
            .copied()
            .ok_or_else(|| query_err(format!("no column {prefix}{column} in the result")))
    }

    fn value(&self, column: &str) -> Result<&Value, DbErr> {
        Ok(&self.values[self.index("", column)?])
    }

    /// Where each of an entity's columns sits, in the order of `E::Column::iter()`.
    fn layout<E: EntityTrait>(&self, prefix: &str) -> Result<Arc<[usize]>, DbErr> {
        let entity = TypeId::of::<E>();
        let mut layouts = self
            .described
            .layouts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, layout)) = layouts.iter().find(|(e, p, _)| *e == entity && p == prefix) {
            return Ok(Arc::clone(layout));
        }
        let layout: Arc<[usize]> = E::Column::iter()
            .map(|c| self.index(prefix, c.as_str()))
            .collect::<Result<_, DbErr>>()?;
        layouts.push((entity, prefix.to_owned(), Arc::clone(&layout)));
        Ok(layout)
    }

    fn build<E: EntityTrait>(&self, layout: &[usize]) -> Result<E::Model, DbErr>
    where
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        let mut model = <E::ActiveModel as ActiveModelTrait>::default();
        for (column, i) in E::Column::iter().zip(layout) {
            model.try_set(column, self.values[*i].clone())?;
        }
        model.try_into_model()
    }
}

impl Row {
    /// The value of a column the query names itself (an alias or a computed column).
    pub fn get<T: TryGetable + ValueType>(&self, column: &str) -> Result<T, DbErr> {
        match self {
            Row::Pool(row) => row.try_get("", column),
            Row::Sqlite(row) => T::try_from(row.value(column)?.clone())
                .map_err(|_| query_err(format!("{column} is not a {}", T::type_name()))),
        }
    }

    /// The entity whose columns the query selected with `prefix` (`""` for a plain select;
    /// sea-orm's `find_also_related` and `select_also` use `A_` and `B_`).
    pub fn model<E: EntityTrait>(&self, prefix: &str) -> Result<E::Model, DbErr>
    where
        E::Model: FromQueryResult,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        match self {
            Row::Pool(row) => E::Model::from_query_result(row, prefix),
            Row::Sqlite(row) => row.build::<E>(&row.layout::<E>(prefix)?),
        }
    }

    /// As `model`, or `None` when the entity's columns are all NULL (an outer join that
    /// matched nothing).
    pub fn model_optional<E: EntityTrait>(&self, prefix: &str) -> Result<Option<E::Model>, DbErr>
    where
        E::Model: FromQueryResult,
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        match self {
            Row::Pool(row) => E::Model::from_query_result_optional(row, prefix),
            Row::Sqlite(row) => {
                let layout = row.layout::<E>(prefix)?;
                if layout.iter().all(|i| is_null(&row.values[*i])) {
                    Ok(None)
                } else {
                    row.build::<E>(&layout).map(Some)
                }
            }
        }
    }
}

/// The entity of every row, selected with `prefix` (see [`Row::model`]).
pub fn models<E: EntityTrait>(rows: &[Row], prefix: &str) -> Result<Vec<E::Model>, DbErr>
where
    E::Model: FromQueryResult,
    E::ActiveModel: TryIntoModel<E::Model>,
{
    // Rows of one result share their columns: find the entity's columns once.
    let layout = match rows.first() {
        Some(Row::Sqlite(first)) => Some(first.layout::<E>(prefix)?),
        _ => None,
    };
    rows.iter()
        .map(|row| match (row, &layout) {
            (Row::Sqlite(row), Some(layout)) => row.build::<E>(layout),
            _ => row.model::<E>(prefix),
        })
        .collect()
}

fn is_null(value: &Value) -> bool {
    matches!(
        value,
        Value::String(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::Bool(None)
            | Value::ChronoDateTimeUtc(None)
            | Value::ChronoDate(None)
            | Value::Double(None)
            | Value::Bytes(None)
    )
}

/// Read-only connections to one SQLite file, used one at a time on the calling thread.
#[derive(Clone)]
pub struct SqliteReader {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    busy_timeout: Duration,
    /// Connections not in use. At most one is in use per thread at a time, since a read never
    /// yields, so this holds about as many as there are request threads.
    idle: Mutex<Vec<Connection>>,
}

/// Idle connections kept; more are opened when needed and closed after use.
const MAX_IDLE: usize = 8;
/// Prepared statements kept per connection: every distinct query of the hot paths fits.
const STATEMENT_CACHE: usize = 128;

impl SqliteReader {
    pub fn new(path: &Path, busy_timeout: Duration) -> Self {
        SqliteReader {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                busy_timeout,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Runs one read and returns its rows.
    pub fn query(&self, stmt: &Statement) -> Result<Vec<Row>, DbErr> {
        let conn = match self.idle().pop() {
            Some(conn) => conn,
            None => self.open().map_err(query_err)?,
        };
        let result = run(&conn, stmt);
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // A panic while holding the lock leaves the list itself intact.
        self.inner.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Never created here: the pool has made the file, and a missing one is an error.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.inner.path, flags)?;
        conn.busy_timeout(self.inner.busy_timeout)?;
        // Same plan stability as the pool's connections (see `db`).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

fn run(conn: &Connection, stmt: &Statement) -> Result<Vec<Row>, DbErr> {
    let mut prepared = conn.prepare_cached(&stmt.sql).map_err(query_err)?;
    let described = described(&stmt.sql, &prepared)?;
    bind_all(&mut prepared, stmt)?;
    let mut rows = prepared.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(query_err)? {
        let mut values = Vec::with_capacity(described.columns.len());
        for (i, (name, kind)) in described.columns.iter().enumerate() {
            let raw = row.get_ref(i).map_err(query_err)?;
            values.push(decode(*kind, raw).map_err(|why| query_err(format!("{name}: {why}")))?);
        }
        out.push(Row::Sqlite(SqliteRow {
            described: Arc::clone(&described),
            values,
        }));
    }
    Ok(out)
}

/// Descriptions kept per thread, by SQL text; statements whose text varies (an `IN` list's
/// length) can make many, so the map starts again when it holds this many.
const DESCRIBED_KEPT: usize = 256;

thread_local! {
    static DESCRIBED: std::cell::RefCell<HashMap<String, Arc<Described>, FastHash>> =
        std::cell::RefCell::new(HashMap::default());
}

/// The result columns of `prepared` (whose text is `sql`), each typed by its entity.
fn described(sql: &str, prepared: &rusqlite::CachedStatement<'_>) -> Result<Arc<Described>, DbErr> {
    if let Some(known) = DESCRIBED.with(|d| d.borrow().get(sql).cloned()) {
        return Ok(known);
    }
    let columns: Vec<(String, Kind)> = prepared
        .columns_with_metadata()
        .iter()
        .map(|c| {
            let kind = match (c.table_name(), c.origin_name()) {
                (Some(table), Some(column)) => column_kind(table, column)
                    .ok_or_else(|| query_err(format!("no entity declares {table}.{column}")))?,
                _ => Kind::Computed,
            };
            Ok((c.name().to_owned(), kind))
        })
        .collect::<Result<_, DbErr>>()?;
    let mut by_name = HashMap::with_capacity_and_hasher(columns.len(), Default::default());
    for (i, (name, _)) in columns.iter().enumerate() {
        // The first of two equal names wins, as in a lookup by name on the pool's rows.
        by_name.entry(name.clone()).or_insert(i);
    }
    let described = Arc::new(Described {
        columns,
        by_name,
        layouts: Mutex::new(Vec::new()),
    });
    DESCRIBED.with(|d| {
        let mut d = d.borrow_mut();
        if d.len() >= DESCRIBED_KEPT {
            d.clear();
        }
        d.insert(sql.to_owned(), Arc::clone(&described));
    });
    Ok(described)
}

fn query_err(err: impl std::fmt::Display) -> DbErr {
    DbErr::Query(RuntimeErr::Internal(format!("in-thread SQLite: {err}")))
}

/// How a column's stored values become sea-orm values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
    BigInt,
    Bool,
    Timestamp,
    Date,
    /// No column of origin: SQLite's own type (integer, real, text, blob).
    Computed,
}

impl Kind {
    fn of(column_type: &ColumnType) -> Option<Kind> {
        Some(match column_type {
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Kind::Text,
            ColumnType::Integer => Kind::Int,
            ColumnType::BigInteger => Kind::BigInt,
            ColumnType::Boolean => Kind::Bool,
            ColumnType::TimestampWithTimeZone => Kind::Timestamp,
            ColumnType::Date => Kind::Date,
            _ => return None,
        })
    }

    fn null(self) -> Value {
        match self {
            Kind::Text | Kind::Computed => Value::String(None),
            Kind::Int => Value::Int(None),
            Kind::BigInt => Value::BigInt(None),
            Kind::Bool => Value::Bool(None),
            Kind::Timestamp => Value::ChronoDateTimeUtc(None),
            Kind::Date => Value::ChronoDate(None),
        }
    }
}

fn decode(kind: Kind, raw: ValueRef<'_>) -> Result<Value, String> {
    let text = |raw: ValueRef<'_>| -> Result<String, String> {
        match raw {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(str::to_owned)
                .map_err(|_| "text that is not UTF-8".to_owned()),
            other => Err(format!("{:?} where text was expected", other.data_type())),
        }
    };
    let integer = |raw: ValueRef<'_>| match raw {
        ValueRef::Integer(i) => Ok(i),
        other => Err(format!(
            "{:?} where an integer was expected",
            other.data_type()
        )),
    };
    if let ValueRef::Null = raw {
        return Ok(kind.null());
    }
    Ok(match kind {
        Kind::Text => Value::String(Some(text(raw)?)),
        Kind::Int => {
            let i = integer(raw)?;
            Value::Int(Some(
                <i32 as TryFrom<i64>>::try_from(i).map_err(|_| format!("{i} overflows i32"))?,
            ))
        }
        Kind::BigInt => Value::BigInt(Some(integer(raw)?)),
        Kind::Bool => Value::Bool(Some(integer(raw)? != 0)),
        Kind::Timestamp => Value::ChronoDateTimeUtc(Some(parse_timestamp(&text(raw)?)?)),
        Kind::Date => {
            let t = text(raw)?;
            Value::ChronoDate(Some(
                NaiveDate::parse_from_str(&t, "%F").map_err(|_| "a malformed date".to_owned())?,
            ))
        }
        Kind::Computed => match raw {
            ValueRef::Integer(i) => Value::BigInt(Some(i)),
            ValueRef::Real(f) => Value::Double(Some(f)),
            ValueRef::Text(_) => Value::String(Some(text(raw)?)),
            ValueRef::Blob(b) => Value::Bytes(Some(b.to_vec())),
            ValueRef::Null => unreachable!("handled above"),
        },
    })
}

/// A stored timestamp, as sqlx writes it (RFC 3339) or as SQLite's own functions write it.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%F %T%.f", "%FT%T%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    Err("a malformed timestamp".into())
}

/// Binds every value of `stmt` to `prepared`, which must take exactly that many.
pub(super) fn bind_all(
    prepared: &mut rusqlite::CachedStatement<'_>,
    stmt: &Statement,
) -> Result<(), DbErr> {
    let values = stmt.values.as_ref().map(|v| v.0.as_slice()).unwrap_or(&[]);
    if values.len() != prepared.parameter_count() {
        return Err(query_err(format!(
            "{} values for {} parameters",
            values.len(),
            prepared.parameter_count()
        )));
    }
    for (i, value) in values.iter().enumerate() {
        bind(prepared, i + 1, value)?;
    }
    Ok(())
}

/// Binds one value the way sea-query's sqlx binding does for SQLite.
fn bind(
    stmt: &mut rusqlite::CachedStatement<'_>,
    index: usize,
    value: &Value,
) -> Result<(), DbErr> {
    use rusqlite::types::Null;
    let timestamp =
        |t: &DateTime<chrono::FixedOffset>| t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
    let result = match value {
        Value::Bool(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::TinyInt(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::SmallInt(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::Int(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::BigInt(v) => stmt.raw_bind_parameter(index, *v),
        Value::TinyUnsigned(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::SmallUnsigned(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::Unsigned(v) => stmt.raw_bind_parameter(index, v.map(i64::from)),
        Value::BigUnsigned(v) => {
            let v = v
                .map(<i64 as TryFrom<u64>>::try_from)
                .transpose()
                .map_err(|_| query_err("an unsigned value over i64"))?;
            stmt.raw_bind_parameter(index, v)
        }
        Value::Float(v) => stmt.raw_bind_parameter(index, v.map(f64::from)),
        Value::Double(v) => stmt.raw_bind_parameter(index, *v),
        Value::String(v) => stmt.raw_bind_parameter(index, v.as_deref()),
        Value::Enum(OptionEnum::Some(e)) => stmt.raw_bind_parameter(index, e.value.as_ref()),
        Value::Enum(OptionEnum::None(_)) => stmt.raw_bind_parameter(index, Null),
        Value::Char(v) => stmt.raw_bind_parameter(index, v.map(|c| c.to_string())),
        Value::Bytes(v) => stmt.raw_bind_parameter(index, v.as_deref()),
        Value::ChronoDate(v) => {
            stmt.raw_bind_parameter(index, v.map(|d| d.format("%F").to_string()))
        }
        Value::ChronoDateTimeUtc(v) => {
            stmt.raw_bind_parameter(index, v.map(|t| timestamp(&t.fixed_offset())))
        }
        Value::ChronoDateTimeWithTimeZone(v) => {
            stmt.raw_bind_parameter(index, v.as_ref().map(timestamp))
        }
        other => return Err(query_err(format!("no SQLite binding for {other:?}"))),
    };
    result.map_err(query_err)
}

/// Every entity column's kind, by (table, column), and the columns no kind fits.
struct Kinds {
    by_column: HashMap<(&'static str, &'static str), Kind>,
    undecodable: Vec<String>,
}

static COLUMN_KINDS: OnceLock<Kinds> = OnceLock::new();

fn kinds() -> &'static Kinds {
    COLUMN_KINDS.get_or_init(|| {
        use crate::entities::*;
        let mut kinds = Kinds {
            by_column: HashMap::new(),
            undecodable: Vec::new(),
        };
        macro_rules! entities {
            ($($e:ident),* $(,)?) => { $( kinds.add::<$e::Entity>(); )* };
        }
        entities!(
            agenda_item,
            agenda_lead,
            agenda_status_history,
            agenda_topic,
            agenda_version,
            api_token,
            audit_entry,
            calendar_feed,
            chatham_note,
            dialogue,
            dialogue_organizer,
            dialogue_side,
            invitation,
            mail_outbox,
            participant,
            private_note,
            refresh_token,
            round,
            session,
            statement,
            statement_approval,
            summary,
            user,
            webhook,
            webhook_delivery,
        );
        kinds
    })
}

fn column_kind(table: &str, column: &str) -> Option<Kind> {
    kinds().by_column.get(&(table, column)).copied()
}

impl Kinds {
    fn add<E: EntityTrait>(&mut self) {
        let table = E::default().table_name();
        for column in E::Column::iter() {
            match Kind::of(column.def().get_column_type()) {
                Some(kind) => {
                    self.by_column.insert((table, column.as_str()), kind);
                }
                // A test fails on any such column; a query reading it gets an error.
                None => self
                    .undecodable
                    .push(format!("{table}.{}", column.as_str())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_column_has_a_kind() {
        assert_eq!(kinds().undecodable, Vec::<String>::new());
        assert_eq!(column_kind("users", "token_version"), Some(Kind::BigInt));
        assert_eq!(column_kind("sessions", "revoked_at"), Some(Kind::Timestamp));
        assert_eq!(column_kind("users", "disabled"), Some(Kind::Bool));
    }

    #[test]
    fn a_malformed_stored_value_is_an_error_not_a_null() {
        assert!(decode(Kind::Timestamp, ValueRef::Text(b"yesterday")).is_err());
        assert!(decode(Kind::Date, ValueRef::Text(b"2026-13-01")).is_err());
        assert!(decode(Kind::Int, ValueRef::Integer(i64::MAX)).is_err());
        assert!(decode(Kind::Text, ValueRef::Integer(3)).is_err());
        assert!(decode(Kind::Bool, ValueRef::Text(b"true")).is_err());
    }

    #[test]
    fn a_null_takes_its_columns_variant() {
        assert_eq!(
            decode(Kind::Timestamp, ValueRef::Null).unwrap(),
            Value::ChronoDateTimeUtc(None)
        );
        assert_eq!(
            decode(Kind::BigInt, ValueRef::Null).unwrap(),
            Value::BigInt(None)
        );
        assert_eq!(
            decode(Kind::Bool, ValueRef::Null).unwrap(),
            Value::Bool(None)
        );
    }

    #[test]
    fn timestamps_read_back_as_sqlx_writes_them() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T13:21:40.726088+00:00").unwrap();
        let written = t.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        assert_eq!(written, "2026-12-01T13:21:40.726088+00:00");
        assert_eq!(parse_timestamp(&written).unwrap(), t.with_timezone(&Utc));
        assert_eq!(
            parse_timestamp("2026-12-01 13:21:40").unwrap(),
            DateTime::parse_from_rfc3339("2026-12-01T13:21:40Z").unwrap()
        );
    }

    /// The same rows read through the pool and through the reader come back equal, for
    /// every kind: text, NULLs of each type, booleans both ways, a 64-bit integer, timestamps
    /// to the microsecond, and an outer join that matched nothing.
    #[tokio::test]
    async fn both_paths_read_the_same_rows() {
        use crate::entities::{round, session, user};
        use sea_orm::QueryFilter;
        use sea_orm::{ActiveModelTrait, Set};

        let (_dir, db) = crate::db::scratch_database().await;
        let reader = Reader::for_pool(&db, Duration::from_secs(5));
        assert!(matches!(reader, Reader::Sqlite(_)));

        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        for (id, affiliation, disabled) in [("u1", Some("Institute"), true), ("u2", None, false)] {
            user::ActiveModel {
                id: Set(id.into()),
                email: Set(format!("{id}@example.org")),
                email_key: Set(format!("{id}@example.org")),
                display_name: Set(format!("Person {id}")),
                affiliation: Set(affiliation.map(Into::into)),
                password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
                token_version: Set(1 << 40),
                disabled: Set(disabled),
                is_admin: Set(!disabled),
                created_at: Set(at("2026-03-29T00:59:59.999999Z")),
                updated_at: Set(at("2026-12-01T13:21:40.726088Z")),
            }
            .insert(&db)
            .await
            .unwrap();
        }
        for (id, revoked) in [
            ("s1", Some(at("2026-12-01T10:00:00.000001Z"))),
            ("s2", None),
        ] {
            session::ActiveModel {
                id: Set(id.into()),
                user_id: Set("u1".into()),
                created_at: Set(at("2026-12-01T09:00:00Z")),
                expires_at: Set(at("2026-12-31T09:00:00.5Z")),
                revoked_at: Set(revoked),
            }
            .insert(&db)
            .await
            .unwrap();
        }

        assert_eq!(
            all(&db, user::Entity::find()).await.unwrap(),
            all(&reader, user::Entity::find()).await.unwrap()
        );
        assert_eq!(
            all(&db, session::Entity::find()).await.unwrap(),
            all(&reader, session::Entity::find()).await.unwrap()
        );
        for sid in ["s1", "s2"] {
            let pooled = crate::store::sessions::find_user_and_session(&db, "u1", sid).await;
            let direct = crate::store::sessions::find_user_and_session(&reader, "u1", sid).await;
            assert_eq!(pooled.unwrap(), direct.unwrap());
        }
        // A bound timestamp compares with stored text the same way on both paths.
        let later = session::Entity::find()
            .filter(session::Column::ExpiresAt.gt(at("2026-12-31T09:00:00.4Z")));
        let direct = all(&reader, later.clone()).await.unwrap();
        assert_eq!(direct.len(), 2);
        assert_eq!(all(&db, later).await.unwrap(), direct);
        // No such round: nothing, not an error. And joins that match nothing read as `None`.
        let seat = crate::store::participants::round_seat(&reader, "r-missing", "u1").await;
        assert!(seat.unwrap().is_none());
        assert!(
            all(&reader, round::Entity::find())
                .await
                .unwrap()
                .is_empty()
        );
        // Its connections cannot write, whatever they are handed.
        let write = Statement::from_string(DbBackend::Sqlite, "DELETE FROM users");
        assert!(reader.fetch(write).await.is_err());
        assert_eq!(all(&reader, user::Entity::find()).await.unwrap().len(), 2);
    }
}
