//! The region's metadata in SQLite: a table per resource kind (each row the resource as JSON,
//! keyed by its id), the tags of every resource in a table of their own, one transaction per
//! command. WAL with `synchronous=FULL`: a command's answer is sent after its transaction is on
//! disk, so an acknowledged change survives `kill -9` and power loss. Reading the tables at
//! start-up is the only full scan.
//!
//! Schema versions live in SQLite's `user_version`; [`MIGRATIONS`] brings an older database (or
//! the `ebs.json` file of squall's first format) forward when the region opens.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::Value;

use crate::error::{ControlError, InternalError};
use crate::table::{Row, Table};

/// The file of a region's metadata, under the region's directory.
pub(crate) const DB_FILE: &str = "control.sqlite";

/// One step of the schema: brings a database at version `i` to `i + 1` (`i` = index in the list).
pub(crate) type Migration = fn(&Transaction<'_>, &Path) -> Result<(), ControlError>;

/// The `meta` key set once the region's default network was made.
pub(crate) const DEFAULT_NETWORK_MADE: &str = "default_network_made";
/// The `meta` key counting how often the region's state was opened (it seeds the id stream).
pub(crate) const TIMES_OPENED: &str = "times_opened";

pub(crate) fn db_error(e: rusqlite::Error) -> ControlError {
    e.into()
}

fn json_error(e: serde_json::Error) -> ControlError {
    e.into()
}

/// The tables of schema version 1.
pub(crate) const TABLES: &[&str] =
    &["volumes", "snapshots", "instances", "security_groups", "key_pairs", "images", "vpcs", "subnets"];

/// The tables of schema version 2 (RDS).
pub(crate) const RDS_TABLES: &[&str] = &["db_instances", "db_subnet_groups", "rds_events"];

pub(crate) fn create_tables(tx: &Transaction<'_>) -> Result<(), ControlError> {
    let mut sql = String::from(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE tags (kind TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                            PRIMARY KEY (kind, id, key)) WITHOUT ROWID;",
    );
    for t in TABLES {
        sql.push_str(&format!("CREATE TABLE {t} (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;"));
    }
    tx.execute_batch(&sql).map_err(db_error)
}

#[derive(Debug)]
pub(crate) struct Db {
    conn: Connection,
}

impl Db {
    /// Opens (or creates) the database in `dir` and runs the steps of `migrations` it lacks;
    /// also answers the version the database had before.
    pub(crate) fn open(dir: &Path, migrations: &[Migration]) -> Result<(Self, i64), ControlError> {
        let schema_version = migrations.len() as i64;
        std::fs::create_dir_all(dir).map_err(|e| ControlError::file(dir, e))?;
        let mut conn = Connection::open(dir.join(DB_FILE)).map_err(db_error)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_error)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_error)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db_error)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(db_error)?;
        if version > schema_version {
            return Err(InternalError::Unreadable(format!(
                "{}: schema version {version} is newer than this squall's {} (written by a later release)",
                dir.join(DB_FILE).display(),
                schema_version
            ))
            .into());
        }
        for (step, migrate) in migrations.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(db_error)?;
            migrate(&tx, dir)?;
            tx.pragma_update(None, "user_version", step as i64 + 1).map_err(db_error)?;
            tx.commit().map_err(db_error)?;
        }
        Ok((Self { conn }, version))
    }

    /// Every row of a kind, with its tags.
    pub(crate) fn load<V: Row>(&self) -> Result<BTreeMap<V::Key, V>, ControlError> {
        let mut tags: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        let mut stmt = self.conn.prepare("SELECT id, key, value FROM tags WHERE kind = ?1").map_err(db_error)?;
        let rows = stmt
            .query_map([V::TABLE], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
            .map_err(db_error)?;
        for row in rows {
            let (id, key, value) = row.map_err(db_error)?;
            tags.entry(id).or_default().insert(key, Value::String(value));
        }
        let mut out = BTreeMap::new();
        let mut stmt = self.conn.prepare(&format!("SELECT id, body FROM {}", V::TABLE)).map_err(db_error)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(db_error)?;
        for row in rows {
            let (id, body) = row.map_err(db_error)?;
            let mut value: Value = serde_json::from_str(&body).map_err(json_error)?;
            if let Value::Object(fields) = &mut value {
                fields.insert("tags".into(), Value::Object(tags.remove(&id).unwrap_or_default()));
            }
            let v: V = serde_json::from_value(value).map_err(json_error)?;
            out.insert(v.key(), v);
        }
        Ok(out)
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, ControlError> {
        self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(db_error)
    }

    pub(crate) fn transaction(&mut self) -> Result<Transaction<'_>, ControlError> {
        self.conn.transaction().map_err(db_error)
    }
}

pub(crate) fn set_meta(tx: &Transaction<'_>, key: &str, value: &str) -> Result<(), ControlError> {
    tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value]).map_err(db_error)?;
    Ok(())
}

/// Writes one row (or deletes it, with `None`) and replaces its tags.
pub(crate) fn put_row<V: Row>(tx: &Transaction<'_>, key: &V::Key, row: Option<&V>) -> Result<(), ControlError> {
    let id = key.to_string();
    tx.execute("DELETE FROM tags WHERE kind = ?1 AND id = ?2", params![V::TABLE, id]).map_err(db_error)?;
    let Some(row) = row else {
        tx.execute(&format!("DELETE FROM {} WHERE id = ?1", V::TABLE), [&id]).map_err(db_error)?;
        return Ok(());
    };
    let mut value = serde_json::to_value(row).map_err(json_error)?;
    let tags = match &mut value {
        Value::Object(fields) => fields.remove("tags"),
        _ => None,
    };
    let body = serde_json::to_string(&value).map_err(json_error)?;
    tx.execute(&format!("INSERT OR REPLACE INTO {} (id, body) VALUES (?1, ?2)", V::TABLE), params![id, body])
        .map_err(db_error)?;
    if let Some(Value::Object(tags)) = tags {
        let mut insert =
            tx.prepare_cached("INSERT INTO tags (kind, id, key, value) VALUES (?1, ?2, ?3, ?4)").map_err(db_error)?;
        for (k, v) in tags {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            insert.execute(params![V::TABLE, id, k, v]).map_err(db_error)?;
        }
    }
    Ok(())
}

/// Writes the rows the running command changed in `table`.
pub(crate) fn put_changes<V: Row>(tx: &Transaction<'_>, table: &Table<V::Key, V>) -> Result<(), ControlError> {
    for (key, row) in table.changes() {
        put_row(tx, key, row)?;
    }
    Ok(())
}
