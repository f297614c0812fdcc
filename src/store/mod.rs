//! Every query, as plain async functions over a connection or transaction.

pub mod sessions;
pub mod users;

/// Current time, truncated to whole microseconds so PostgreSQL and SQLite store the same value.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
