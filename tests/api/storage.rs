//! CHECKS 32 and the data directory: pragmas, file modes, generated keys that survive a restart.

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::helpers::{spawn_app, spawn_app_with};

async fn pragma(db: &sea_orm::DatabaseConnection, name: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0)
        .map(|v| v.to_string())
        .or_else(|_| row.try_get_by_index::<String>(0))
        .unwrap()
}

#[tokio::test]
async fn a_pooled_connection_is_durable_and_safe_for_concurrent_writers() {
    let app = spawn_app().await;
    // The same function the server uses to connect.
    let db = backchannel::db::connect(&app.settings).await.unwrap();
    if app.settings.uses_sqlite() {
        assert_eq!(pragma(&db, "journal_mode").await, "wal");
        assert!(pragma(&db, "busy_timeout").await.parse::<i64>().unwrap() >= 5000);
        assert_eq!(pragma(&db, "foreign_keys").await, "1");
        assert_eq!(pragma(&db, "synchronous").await, "2", "FULL");
        assert_eq!(pragma(&db, "secure_delete").await, "1");
    } else {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SHOW synchronous_commit",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "on");
    }
}

#[tokio::test]
async fn the_data_directory_is_private_and_its_files_owner_only() {
    let app = spawn_app().await;
    let user = app.user("Files").await;
    app.login(&user).await;
    let dir = &app.settings.storage.data_dir;
    assert_eq!(
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        names.push(entry.file_name().to_string_lossy().into_owned());
        assert_eq!(mode & 0o077, 0, "{:?} is {mode:o}", entry.file_name());
    }
    assert!(
        names.contains(&"signing.key".to_owned()) && names.contains(&"notes.key".to_owned()),
        "{names:?}"
    );
    if app.settings.uses_sqlite() {
        assert!(names.contains(&"backchannel.db".to_owned()), "{names:?}");
    }
}

#[tokio::test]
async fn a_second_start_on_the_same_data_directory_reuses_keys_and_keeps_accounts() {
    let first = spawn_app().await;
    let user = first.user("Persistent").await;
    let token = first.token(&user).await;
    let key_before = std::fs::read(first.settings.storage.data_dir.join("signing.key")).unwrap();

    let (data_dir, url) = (
        first.settings.storage.data_dir.clone(),
        first.settings.database.url.clone(),
    );
    let second = spawn_app_with(move |s| {
        s.storage.data_dir = data_dir;
        s.database.url = url;
    })
    .await;
    let key_after = std::fs::read(second.settings.storage.data_dir.join("signing.key")).unwrap();
    assert_eq!(key_before, key_after);
    // A token issued by the first start verifies on the second; the account is still there.
    assert_eq!(
        second.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        second
            .login_response(&user.email, &user.password)
            .await
            .status(),
        StatusCode::OK
    );
}

/// Every migration can be undone: rolling the whole schema back leaves no table, trigger or
/// function of ours behind, and migrating again gives a working database.
#[tokio::test]
async fn the_schema_rolls_back_to_nothing_and_migrates_again() {
    use migrations::{Migrator, MigratorTrait};
    let app = spawn_app().await;
    let backend = app.db.get_database_backend();
    let leftovers = |db: sea_orm::DatabaseConnection| async move {
        let sql = match backend {
            DbBackend::Sqlite => {
                "SELECT type || ' ' || name FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'seaql_migrations%' \
                 ORDER BY 1"
            }
            _ => {
                "SELECT 'table ' || table_name FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' \
                 UNION ALL SELECT 'trigger ' || trigger_name FROM information_schema.triggers \
                 WHERE trigger_schema = 'public' \
                 UNION ALL SELECT 'function ' || routine_name FROM information_schema.routines \
                 WHERE routine_schema = 'public' ORDER BY 1"
            }
        };
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.try_get_by_index::<String>(0).unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        leftovers(app.db.clone())
            .await
            .iter()
            .any(|t| t.contains("guard_epoch")),
        "the epoch triggers are there to begin with"
    );
    Migrator::down(&app.db, None).await.unwrap();
    assert_eq!(leftovers(app.db.clone()).await, Vec::<String>::new());
    Migrator::up(&app.db, None).await.unwrap();
    let user = app.user("Back Again").await;
    assert_eq!(
        app.get("/api/v1/me", Some(&app.token(&user).await))
            .await
            .status(),
        StatusCode::OK
    );
}
