//! The steps of the metadata schema, in order. Step 1: the tables, filled from `ebs.json` when
//! the region was written by squall's first format (the whole region as one JSON file,
//! `format_version` 1). The file is left in place, renamed `ebs.json.imported`, once the import
//! has committed.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Transaction;
use serde::Deserialize;

use crate::db;
use crate::error::{ControlError, InternalError};
use crate::ids::{InstanceId, SnapshotId, VolumeId};
use crate::model::image::Image;
use crate::model::instance::Instance;
use crate::model::key_pair::KeyPair;
use crate::model::network::{Subnet, Vpc};
use crate::model::security_group::SecurityGroup;
use crate::model::snapshot::Snapshot;
use crate::model::volume::Volume;
use crate::table::Row;

pub(crate) const LEGACY_FILE: &str = "ebs.json";
pub(crate) const IMPORTED_FILE: &str = "ebs.json.imported";

/// Every schema step in order; the schema version is their count.
pub(crate) const MIGRATIONS: &[db::Migration] = &[
    create_schema_and_import_ebs_json,
    create_rds_tables,
    create_db_snapshots,
    create_db_parameter_groups,
    create_db_option_groups,
    create_db_security_groups,
    create_routing_tables,
    create_interface_tables,
    create_db_clusters,
    create_global_and_blue_green,
];

/// Step 10: global clusters (kept in the region that made them) and blue/green deployments.
fn create_global_and_blue_green(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch(
        "CREATE TABLE global_clusters (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE blue_green_deployments (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
    )
    .map_err(db::db_error)
}

/// Step 9: Aurora DB clusters and their snapshots, and RDS proxies.
fn create_db_clusters(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch(
        "CREATE TABLE db_clusters (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE db_cluster_snapshots (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE db_proxies (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
    )
    .map_err(db::db_error)
}

/// Step 8: network interfaces and launch templates (instances launched before this step gain
/// their primary interface as the region opens).
fn create_interface_tables(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch(
        "CREATE TABLE network_interfaces (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE launch_templates (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
    )
    .map_err(db::db_error)
}

/// Step 7: internet gateways, route tables, Elastic IPs and DB log backups (a region's main route tables are made as it
/// opens, so regions written before this step gain them).
fn create_routing_tables(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch(
        "CREATE TABLE internet_gateways (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE route_tables (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE addresses (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE db_log_backups (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
    )
    .map_err(db::db_error)
}

/// Step 6: DB security groups, event subscriptions and Secrets Manager's secrets.
fn create_db_security_groups(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch(
        "CREATE TABLE db_security_groups (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE event_subscriptions (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE secrets (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;",
    )
    .map_err(db::db_error)
}

/// Step 5: DB option groups.
fn create_db_option_groups(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch("CREATE TABLE db_option_groups (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;")
        .map_err(db::db_error)
}

/// Step 4: DB parameter groups.
fn create_db_parameter_groups(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch("CREATE TABLE db_parameter_groups (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;")
        .map_err(db::db_error)
}

/// Step 3: DB snapshots.
fn create_db_snapshots(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    tx.execute_batch("CREATE TABLE db_snapshots (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;")
        .map_err(db::db_error)
}

/// Step 2: RDS's tables (DB instances, DB subnet groups, events).
fn create_rds_tables(tx: &Transaction<'_>, _dir: &Path) -> Result<(), ControlError> {
    let mut sql = String::new();
    for t in db::RDS_TABLES {
        sql.push_str(&format!("CREATE TABLE {t} (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;"));
    }
    tx.execute_batch(&sql).map_err(db::db_error)
}

/// Renames an imported `ebs.json` once the database holding its rows has committed.
pub(crate) fn retire_legacy_file(dir: &Path) -> Result<(), ControlError> {
    let legacy = dir.join(LEGACY_FILE);
    if legacy.exists() {
        std::fs::rename(&legacy, dir.join(IMPORTED_FILE)).map_err(|e| ControlError::file(&legacy, e))?;
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct LegacyNetwork {
    #[serde(default)]
    default_made: bool,
    #[serde(default)]
    vpcs: BTreeMap<String, Vpc>,
    #[serde(default)]
    subnets: BTreeMap<String, Subnet>,
}

/// The region as the first format wrote it.
#[derive(Debug, Deserialize)]
struct LegacyFile {
    format_version: u32,
    volumes: BTreeMap<VolumeId, Volume>,
    snapshots: BTreeMap<SnapshotId, Snapshot>,
    #[serde(default)]
    instances: BTreeMap<InstanceId, Instance>,
    #[serde(default)]
    security_groups: BTreeMap<String, SecurityGroup>,
    #[serde(default)]
    network: LegacyNetwork,
    #[serde(default)]
    key_pairs: BTreeMap<String, KeyPair>,
    #[serde(default)]
    images: BTreeMap<String, Image>,
}

fn put_all<'a, V: Row + 'a>(tx: &Transaction<'_>, rows: impl IntoIterator<Item = &'a V>) -> Result<(), ControlError> {
    for row in rows {
        db::put_row(tx, &row.key(), Some(row))?;
    }
    Ok(())
}

pub(crate) fn create_schema_and_import_ebs_json(tx: &Transaction<'_>, dir: &Path) -> Result<(), ControlError> {
    db::create_tables(tx)?;
    let bytes = match std::fs::read(dir.join(LEGACY_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ControlError::file(dir.join(LEGACY_FILE), e)),
    };
    let file: LegacyFile =
        serde_json::from_slice(&bytes).map_err(|e| InternalError::Unreadable(format!("bad {LEGACY_FILE}: {e}")))?;
    if file.format_version != 1 {
        return Err(InternalError::Unreadable(format!(
            "{LEGACY_FILE} format {} is not supported",
            file.format_version
        ))
        .into());
    }
    put_all(tx, file.volumes.values())?;
    put_all(tx, file.snapshots.values())?;
    put_all(tx, file.instances.values())?;
    put_all(tx, file.security_groups.values())?;
    put_all(tx, file.network.vpcs.values())?;
    put_all(tx, file.network.subnets.values())?;
    put_all(tx, file.key_pairs.values())?;
    put_all(tx, file.images.values())?;
    if file.network.default_made {
        db::set_meta(tx, db::DEFAULT_NETWORK_MADE, "true")?;
    }
    Ok(())
}
