//! Key rotation for data at rest. `rotate` adds a new key to the front of the ring in
//! `<data_dir>/notes.key` (so it seals from now on) and re-seals every sealed row under it: note
//! bodies, summaries, statements, agenda outcomes, queued mail and webhook secrets. Each row is
//! rewritten on its own with a guard on its old key id, so an interrupted run loses nothing and
//! `--resume` picks up the rows still under an older key. Old keys stay in the ring (rows
//! restored from a backup may need them) unless `--retire` is given and no row uses them any
//! more.
//!
//! When the ring comes from `storage.notes_key` instead, the ring is the operator's to change:
//! they put a new key first in the setting (`keys new` prints one) and run `--resume`, and
//! remove keys no row uses themselves (`--retire` names them).
//!
//! Run it with the service stopped: a running server keeps sealing with the key it started with.
//! It refuses to start while a server holds the data directory's `service.lock`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use secrecy::{ExposeSecret, SecretSlice};

use crate::crypto::Cipher;
use crate::settings::Settings;
use crate::storage::{self, Keys};

/// A sealed column: table, id column (also the associated data), text column, key-id column.
const SEALED: [(&str, &str, &str, &str); 7] = [
    ("private_notes", "id", "body_sealed", "key_id"),
    ("chatham_notes", "id", "body_sealed", "key_id"),
    ("summaries", "agenda_item_id", "body_sealed", "key_id"),
    ("statements", "round_id", "body_sealed", "key_id"),
    ("agenda_items", "id", "outcome_sealed", "outcome_key_id"),
    ("mail_outbox", "id", "sealed", "key_id"),
    ("webhooks", "id", "secret_sealed", "key_id"),
];

pub struct Report {
    pub key_id: String,
    pub resealed: u64,
    pub retired: usize,
    /// With a ring from `storage.notes_key` and `--retire`: old keys no row uses, for the
    /// operator to remove from the setting.
    pub unused: Vec<String>,
}

/// Adds a new current key (unless resuming), re-seals every row under it, and retires unused
/// old keys on request.
pub async fn rotate(
    settings: &Settings,
    db: &DatabaseConnection,
    resume: bool,
    retire: bool,
) -> Result<Report, String> {
    let _lock = storage::ServiceLock::rotating(&settings.storage.data_dir)?;
    let configured = settings.notes_key_configured();
    if configured && !resume {
        return Err(
            "the key ring comes from storage.notes_key: put a new key first in it \
                    (`backchannel keys new` prints one), then run `keys rotate --resume`"
                .into(),
        );
    }
    let path = settings.storage.data_dir.join("notes.key");
    if !resume {
        let current =
            fs::read_to_string(&path).map_err(|e| format!("reading notes.key: {}", e.kind()))?;
        let kid = hex::encode(storage::random_bytes(4));
        let line = format!("{kid}:{}", storage::random_b64(32).expose_secret());
        write_ring(&path, &format!("{line}\n{}", current.trim()))?;
    }
    let keys = Keys::load_or_generate(settings).map_err(|e| e.to_string())?;
    let cipher = Cipher::new(&keys.notes).map_err(|e| format!("key ring: {e}"))?;
    let current = cipher.current_key_id().to_owned();
    let mut resealed = 0;
    for (table, id_col, text_col, key_col) in SEALED {
        resealed += reseal_table(db, &cipher, &current, table, id_col, text_col, key_col)
            .await
            .map_err(|e| format!("{table}: {e}"))?;
    }
    let mut retired = 0;
    if retire {
        let mut kept: Vec<&(String, SecretSlice<u8>)> = Vec::new();
        for entry in &keys.notes {
            if entry.0 == current || key_in_use(db, &entry.0).await.map_err(|e| e.to_string())? {
                kept.push(entry);
            } else {
                retired += 1;
            }
        }
        if configured {
            // The setting is the operator's to edit: name the keys, keep them in the ring.
            let unused = keys
                .notes
                .iter()
                .map(|(kid, _)| kid.clone())
                .filter(|kid| !kept.iter().any(|(k, _)| k == kid))
                .collect();
            return Ok(Report {
                key_id: current,
                resealed,
                retired: 0,
                unused,
            });
        }
        let text = kept
            .iter()
            .map(|(kid, key)| {
                use base64::Engine;
                format!(
                    "{kid}:{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.expose_secret())
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        write_ring(&path, &text)?;
    }
    Ok(Report {
        key_id: current,
        resealed,
        retired,
        unused: Vec::new(),
    })
}

/// Replaces the ring file atomically (write, sync, rename), readable by the owner alone.
fn write_ring(path: &std::path::Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("key.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("writing the key ring: {}", e.kind()))?;
    f.write_all(format!("{text}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("writing the key ring: {}", e.kind()))?;
    fs::rename(&tmp, path).map_err(|e| format!("replacing the key ring: {}", e.kind()))
}

async fn reseal_table(
    db: &DatabaseConnection,
    cipher: &Cipher,
    current: &str,
    table: &str,
    id_col: &str,
    text_col: &str,
    key_col: &str,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let mut done = 0;
    loop {
        let select = Query::select()
            .columns([
                Alias::new(id_col),
                Alias::new(text_col),
                Alias::new(key_col),
            ])
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new(key_col)).is_not_null())
            .and_where(Expr::col(Alias::new(key_col)).ne(current))
            .limit(200)
            .to_owned();
        let rows = db.query_all_raw(backend.build(&select)).await?;
        if rows.is_empty() {
            return Ok(done);
        }
        for row in rows {
            let id: String = row.try_get_by_index(0)?;
            let sealed: String = row.try_get_by_index(1)?;
            let key_id: String = row.try_get_by_index(2)?;
            let clear = cipher
                .open(&key_id, &sealed, id.as_bytes())
                .map_err(|e| DbErr::Custom(format!("row {id}: {e}")))?;
            let (new_kid, new_sealed) = cipher.seal(&clear, id.as_bytes());
            let update = Query::update()
                .table(Alias::new(table))
                .values([
                    (Alias::new(text_col), new_sealed.into()),
                    (Alias::new(key_col), new_kid.into()),
                ])
                .and_where(Expr::col(Alias::new(id_col)).eq(id.as_str()))
                .and_where(Expr::col(Alias::new(key_col)).eq(key_id.as_str()))
                .to_owned();
            db.execute_raw(backend.build(&update)).await?;
            done += 1;
        }
    }
}

async fn key_in_use(db: &DatabaseConnection, kid: &str) -> Result<bool, DbErr> {
    for (table, _, _, key_col) in SEALED {
        let sql = format!(
            "SELECT 1 FROM {table} WHERE {key_col} = {} LIMIT 1",
            if db.get_database_backend() == DbBackend::Postgres {
                "$1"
            } else {
                "?"
            }
        );
        let found = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                sql,
                [kid.into()],
            ))
            .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
