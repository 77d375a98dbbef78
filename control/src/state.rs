//! The state of one region: a table per resource kind (volumes, snapshots, instances, VPCs,
//! subnets, security groups, key pairs, images), the region's block store, and the machinery of
//! a command — open from the database, commit a command's changes in one transaction, or roll
//! them back. The rules of each resource live in the module named after it (`volumes.rs`,
//! `snapshots.rs`, `ebs_direct.rs`, `instances.rs`, …), as `impl RegionState` blocks.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use squall_storage::{RegionStore, StorageError, VolumeId as StoreName};

use crate::db::{self, Db};
use crate::error::{ControlError, VolumeError};
use crate::ids::{AzId, AzName, InstanceId, SnapshotId, VolumeId};
use crate::migrations;
use crate::model::image::Image;
use crate::model::instance::{Instance, InstanceState};
use crate::model::key_pair::KeyPair;
use crate::model::lifecycle::{snapshot_next_due, track, volume_next_due, LifecycleDelays, Pending};
use crate::model::network::{NetworkState, Subnet, Vpc};
use crate::model::rds::{DbInstance, DbParameterGroup, DbSnapshot, DbSubnetGroup, RdsEvent};
use crate::model::security_group::SecurityGroup;
use crate::model::snapshot::Snapshot;
use crate::model::volume::Volume;
use crate::table::Table;

/// Bytes per GiB.
pub(crate) const GIB: u64 = 1 << 30;

/// The state of one region. Not thread-safe by itself: the region holds it in a lock.
#[derive(Debug)]
pub struct RegionState {
    pub(crate) db: Db,
    pub(crate) store: RegionStore,
    pub(crate) volumes: Table<VolumeId, Volume>,
    pub(crate) snapshots: Table<SnapshotId, Snapshot>,
    /// The region's instances; volumes attach only to these.
    pub(crate) instances: Table<InstanceId, Instance>,
    pub(crate) security_groups: Table<String, SecurityGroup>,
    pub(crate) network: NetworkState,
    pub(crate) key_pairs: Table<String, KeyPair>,
    pub(crate) images: Table<String, Image>,
    pub(crate) db_instances: Table<String, DbInstance>,
    pub(crate) db_subnet_groups: Table<String, DbSubnetGroup>,
    pub(crate) rds_events: Table<String, RdsEvent>,
    pub(crate) db_snapshots: Table<String, DbSnapshot>,
    pub(crate) db_parameter_groups: Table<String, DbParameterGroup>,
    pub(crate) db_option_groups: Table<String, crate::db_option_groups::DbOptionGroup>,
    pub(crate) db_security_groups: Table<String, crate::db_security_groups::DbSecurityGroup>,
    pub(crate) event_subscriptions: Table<String, crate::db_event_subscriptions::EventSubscription>,
    pub(crate) secrets: Table<String, crate::secrets::Secret>,
    pub(crate) internet_gateways: Table<String, crate::model::routing::InternetGateway>,
    pub(crate) route_tables: Table<String, crate::model::routing::RouteTable>,
    pub(crate) addresses: Table<String, crate::model::routing::Address>,
    pub(crate) network_interfaces: Table<String, crate::model::network::NetworkInterface>,
    pub(crate) launch_templates: Table<String, crate::launch_templates::LaunchTemplate>,
    pub(crate) db_clusters: Table<String, crate::db_clusters::DbCluster>,
    pub(crate) db_cluster_snapshots: Table<String, crate::db_cluster_snapshots::DbClusterSnapshot>,
    pub(crate) db_proxies: Table<String, crate::db_proxies::DbProxy>,
    pub(crate) global_clusters: Table<String, crate::global_clusters::GlobalCluster>,
    pub(crate) blue_green: Table<String, crate::blue_green::BlueGreenDeployment>,
    pub(crate) db_log_backups: Table<String, crate::model::rds::DbLogBackup>,
    /// Instances that may hold capacity in one zone at once.
    pub(crate) instance_capacity: u32,
    /// Ports for DB instances created without one (`ControlConfig::rds_ports`).
    pub(crate) db_ports: std::ops::RangeInclusive<u16>,
    /// Volumes whose I/O a `volume-io-pause` fault holds, and since when (not persisted: faults
    /// end with the process).
    pub(crate) paused: BTreeMap<VolumeId, u64>,
    /// DB volumes a `volume-io-pause` fault holds, and since when by their cluster's clock (ms).
    pub(crate) db_paused: BTreeMap<String, u64>,
    /// The data path's view of the volumes, refreshed as commands commit.
    pub(crate) io: std::sync::Arc<crate::block_io::IoIndex>,
    pub(crate) delays: LifecycleDelays,
    pub(crate) rng: StdRng,
    /// Nothing can fall due before this time (ms), so `settle` may skip its scan; any change
    /// resets it to 0.
    pub(crate) quiet_until: std::cell::Cell<u64>,
    /// The rows with a transition still to come: the only ones `settle` looks at, so its cost
    /// follows what is in flight, not the size of the region.
    pub(crate) pending: Pending,
}

pub(crate) fn storage_error(e: StorageError) -> ControlError {
    match e {
        StorageError::InsufficientCapacity { cluster, .. } => {
            ControlError::Volume(VolumeError::InsufficientVolumeCapacity { zone: cluster })
        }
        other => other.into(),
    }
}

pub(crate) fn store_name(id: &str) -> Result<StoreName, ControlError> {
    StoreName::new(id).map_err(storage_error)
}

impl RegionState {
    pub(crate) fn open(
        dir: &Path,
        store: RegionStore,
        delays: LifecycleDelays,
        seed: u64,
        io: std::sync::Arc<crate::block_io::IoIndex>,
    ) -> Result<Self, ControlError> {
        let (mut db, found_version) = Db::open(dir, migrations::MIGRATIONS)?;
        if found_version == 0 {
            migrations::retire_legacy_file(dir)?;
        }
        // Ids come from a seeded stream; each opening of the region draws from a stream of its
        // own, or a restart would hand out again the ids of resources deleted before it (AWS
        // never reuses an id).
        let opened = db.meta(db::TIMES_OPENED)?.and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) + 1;
        {
            let tx = db.transaction()?;
            db::set_meta(&tx, db::TIMES_OPENED, &opened.to_string())?;
            tx.commit().map_err(db::db_error)?;
        }
        let id_seed = seed ^ opened.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let network = NetworkState {
            default_made: db.meta(db::DEFAULT_NETWORK_MADE)?.is_some(),
            default_made_changed: false,
            vpcs: Table::from_rows(db.load::<Vpc>()?),
            subnets: Table::from_rows(db.load::<Subnet>()?),
        };
        let mut state = Self {
            volumes: Table::from_rows(db.load::<Volume>()?),
            snapshots: Table::from_rows(db.load::<Snapshot>()?),
            instances: Table::from_rows(db.load::<Instance>()?),
            security_groups: Table::from_rows(db.load::<SecurityGroup>()?),
            network,
            key_pairs: Table::from_rows(db.load::<KeyPair>()?),
            images: Table::from_rows(db.load::<Image>()?),
            db_instances: Table::from_rows(db.load::<DbInstance>()?),
            db_subnet_groups: Table::from_rows(db.load::<DbSubnetGroup>()?),
            rds_events: Table::from_rows(db.load::<RdsEvent>()?),
            db_snapshots: Table::from_rows(db.load::<DbSnapshot>()?),
            db_parameter_groups: Table::from_rows(db.load::<DbParameterGroup>()?),
            db_option_groups: Table::from_rows(db.load::<crate::db_option_groups::DbOptionGroup>()?),
            db_security_groups: Table::from_rows(db.load::<crate::db_security_groups::DbSecurityGroup>()?),
            event_subscriptions: Table::from_rows(db.load::<crate::db_event_subscriptions::EventSubscription>()?),
            secrets: Table::from_rows(db.load::<crate::secrets::Secret>()?),
            internet_gateways: Table::from_rows(db.load::<crate::model::routing::InternetGateway>()?),
            route_tables: Table::from_rows(db.load::<crate::model::routing::RouteTable>()?),
            addresses: Table::from_rows(db.load::<crate::model::routing::Address>()?),
            network_interfaces: Table::from_rows(db.load::<crate::model::network::NetworkInterface>()?),
            launch_templates: Table::from_rows(db.load::<crate::launch_templates::LaunchTemplate>()?),
            db_clusters: Table::from_rows(db.load::<crate::db_clusters::DbCluster>()?),
            db_cluster_snapshots: Table::from_rows(db.load::<crate::db_cluster_snapshots::DbClusterSnapshot>()?),
            db_proxies: Table::from_rows(db.load::<crate::db_proxies::DbProxy>()?),
            global_clusters: Table::from_rows(db.load::<crate::global_clusters::GlobalCluster>()?),
            blue_green: Table::from_rows(db.load::<crate::blue_green::BlueGreenDeployment>()?),
            db_log_backups: Table::from_rows(db.load::<crate::model::rds::DbLogBackup>()?),
            db,
            store,
            instance_capacity: u32::MAX,
            db_ports: 4510..=4559,
            paused: BTreeMap::new(),
            db_paused: BTreeMap::new(),
            io,
            delays,
            rng: rand::SeedableRng::seed_from_u64(id_seed),
            quiet_until: std::cell::Cell::new(0),
            pending: Pending::default(),
        };
        let d = state.delays;
        state.pending = Pending {
            volumes: state
                .volumes
                .values()
                .filter(|v| volume_next_due(v, d) < u64::MAX)
                .map(|v| v.id.clone())
                .collect(),
            snapshots: state
                .snapshots
                .values()
                .filter(|s| snapshot_next_due(s, d) < u64::MAX)
                .map(|s| s.id.clone())
                .collect(),
            instances: state
                .instances
                .values()
                .filter(|i| crate::model::instance::instance_next_due(i, d) < u64::MAX)
                .map(|i| i.id.clone())
                .collect(),
        };
        state.drop_orphan_storage()?;
        let all: Vec<VolumeId> = state.volumes.values().map(|v| v.id.clone()).collect();
        state.refresh_io(all);
        Ok(state)
    }

    /// Storage volumes that no volume row names: a crash between creating a volume's replicas
    /// and committing its row left them behind (the command never answered), so they go.
    fn drop_orphan_storage(&mut self) -> Result<(), ControlError> {
        let zone_ids = self.store.stored_cluster_names().map_err(storage_error)?;
        for zone in zone_ids {
            let shared = self.store.cluster(&zone).map_err(storage_error)?;
            let mut cluster = shared.lock();
            for (volume, why) in cluster.take_damaged_replicas() {
                tracing::warn!(volume = volume.as_str(), zone, "removed a replica that could not be opened: {why}");
            }
            let orphans: Vec<StoreName> = cluster
                .volumes()
                .map(|(name, _)| name.clone())
                .filter(|name| VolumeId::parse(name.as_str()).map_or(true, |id| !self.volumes.contains_key(&id)))
                .filter(|name| !self.is_db_storage(name.as_str()))
                .collect();
            for name in orphans {
                tracing::warn!(
                    volume = name.as_str(),
                    zone,
                    "dropping storage of a volume whose creation never committed"
                );
                cluster.reclaim_orphan(&name).map_err(storage_error)?;
            }
        }
        Ok(())
    }

    /// Makes the running command's changes durable in one transaction; on failure nothing of
    /// the command remains, in memory or on disk.
    pub(crate) fn commit(&mut self) -> Result<(), ControlError> {
        let changed = self.volumes.has_changes()
            || self.snapshots.has_changes()
            || self.instances.has_changes()
            || self.security_groups.has_changes()
            || self.network.vpcs.has_changes()
            || self.network.subnets.has_changes()
            || self.key_pairs.has_changes()
            || self.images.has_changes()
            || self.db_instances.has_changes()
            || self.db_subnet_groups.has_changes()
            || self.rds_events.has_changes()
            || self.db_snapshots.has_changes()
            || self.db_parameter_groups.has_changes()
            || self.db_option_groups.has_changes()
            || self.db_security_groups.has_changes()
            || self.event_subscriptions.has_changes()
            || self.secrets.has_changes()
            || self.internet_gateways.has_changes()
            || self.route_tables.has_changes()
            || self.addresses.has_changes()
            || self.network_interfaces.has_changes()
            || self.launch_templates.has_changes()
            || self.db_clusters.has_changes()
            || self.db_cluster_snapshots.has_changes()
            || self.db_proxies.has_changes()
            || self.global_clusters.has_changes()
            || self.blue_green.has_changes()
            || self.db_log_backups.has_changes()
            || self.network.default_made_changed;
        if !changed {
            self.forget_originals();
            return Ok(());
        }
        self.quiet_until.set(0);
        let written = (|| {
            let tx = self.db.transaction()?;
            db::put_changes(&tx, &self.volumes)?;
            db::put_changes(&tx, &self.snapshots)?;
            db::put_changes(&tx, &self.instances)?;
            db::put_changes(&tx, &self.security_groups)?;
            db::put_changes(&tx, &self.network.vpcs)?;
            db::put_changes(&tx, &self.network.subnets)?;
            db::put_changes(&tx, &self.key_pairs)?;
            db::put_changes(&tx, &self.images)?;
            db::put_changes(&tx, &self.db_instances)?;
            db::put_changes(&tx, &self.db_subnet_groups)?;
            db::put_changes(&tx, &self.rds_events)?;
            db::put_changes(&tx, &self.db_snapshots)?;
            db::put_changes(&tx, &self.db_parameter_groups)?;
            db::put_changes(&tx, &self.db_option_groups)?;
            db::put_changes(&tx, &self.db_security_groups)?;
            db::put_changes(&tx, &self.event_subscriptions)?;
            db::put_changes(&tx, &self.secrets)?;
            db::put_changes(&tx, &self.internet_gateways)?;
            db::put_changes(&tx, &self.route_tables)?;
            db::put_changes(&tx, &self.addresses)?;
            db::put_changes(&tx, &self.network_interfaces)?;
            db::put_changes(&tx, &self.launch_templates)?;
            db::put_changes(&tx, &self.db_clusters)?;
            db::put_changes(&tx, &self.db_cluster_snapshots)?;
            db::put_changes(&tx, &self.db_proxies)?;
            db::put_changes(&tx, &self.global_clusters)?;
            db::put_changes(&tx, &self.blue_green)?;
            db::put_changes(&tx, &self.db_log_backups)?;
            if self.network.default_made_changed {
                db::set_meta(&tx, db::DEFAULT_NETWORK_MADE, "true")?;
            }
            tx.commit().map_err(db::db_error)
        })();
        match written {
            Ok(()) => {
                let touched: Vec<VolumeId> = self.volumes.changes().map(|(id, _)| id.clone()).collect();
                self.refresh_io(touched);
                let d = self.delays;
                track(&mut self.pending.volumes, &self.volumes, |v| volume_next_due(v, d));
                track(&mut self.pending.snapshots, &self.snapshots, |s| snapshot_next_due(s, d));
                track(&mut self.pending.instances, &self.instances, |i| {
                    crate::model::instance::instance_next_due(i, d)
                });
                self.forget_originals();
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn forget_originals(&mut self) {
        self.volumes.commit();
        self.snapshots.commit();
        self.instances.commit();
        self.security_groups.commit();
        self.network.vpcs.commit();
        self.network.subnets.commit();
        self.network.default_made_changed = false;
        self.key_pairs.commit();
        self.images.commit();
        self.db_instances.commit();
        self.db_subnet_groups.commit();
        self.rds_events.commit();
        self.db_snapshots.commit();
        self.db_parameter_groups.commit();
        self.db_option_groups.commit();
        self.db_security_groups.commit();
        self.event_subscriptions.commit();
        self.secrets.commit();
        self.internet_gateways.commit();
        self.route_tables.commit();
        self.addresses.commit();
        self.network_interfaces.commit();
        self.launch_templates.commit();
        self.db_clusters.commit();
        self.db_cluster_snapshots.commit();
        self.db_proxies.commit();
        self.global_clusters.commit();
        self.blue_green.commit();
        self.db_log_backups.commit();
    }

    /// Undoes every change of the running command in memory (it failed part-way).
    pub(crate) fn rollback(&mut self) {
        self.quiet_until.set(0);
        // What the command made in the block store goes with it.
        let made: Vec<(AzId, VolumeId)> =
            self.volumes.inserted().map(|(id, v)| (v.zone_id.clone(), id.clone())).collect();
        for (zone, id) in made {
            let dropped = store_name(id.as_str()).and_then(|name| {
                self.store.cluster(zone.as_str()).and_then(|c| c.lock().delete_volume(&name)).map_err(storage_error)
            });
            if let Err(e) = dropped {
                tracing::warn!(volume = %id, "could not drop the storage of a volume whose command failed: {e}");
            }
        }
        let made: Vec<SnapshotId> = self.snapshots.inserted().map(|(id, _)| id.clone()).collect();
        for id in made {
            if let Err(e) =
                store_name(id.as_str()).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error))
            {
                tracing::warn!(snapshot = %id, "could not drop the blocks of a snapshot whose command failed: {e}");
            }
        }
        self.volumes.rollback();
        self.snapshots.rollback();
        self.instances.rollback();
        self.security_groups.rollback();
        self.network.vpcs.rollback();
        self.network.subnets.rollback();
        if self.network.default_made_changed {
            self.network.default_made = false;
            self.network.default_made_changed = false;
        }
        // A DB instance the command made takes its storage with it.
        let made: Vec<crate::model::rds::DbStorage> = self
            .db_instances
            .inserted()
            .flat_map(|(_, i)| std::iter::once(i.primary.clone()).chain(i.standby.clone()))
            .collect();
        for storage in made {
            self.drop_db_storage(&storage);
        }
        let taken: Vec<String> = self.db_snapshots.inserted().flat_map(|(_, s)| s.volumes.clone()).collect();
        for name in taken {
            if let Err(e) = store_name(&name).and_then(|n| self.store.snapshots().delete(&n).map_err(storage_error)) {
                tracing::warn!(snapshot = %name, "could not drop a DB snapshot's blocks whose command failed: {e}");
            }
        }
        self.key_pairs.rollback();
        self.images.rollback();
        self.db_instances.rollback();
        self.db_subnet_groups.rollback();
        self.rds_events.rollback();
        self.db_snapshots.rollback();
        self.db_parameter_groups.rollback();
        self.db_option_groups.rollback();
        self.db_security_groups.rollback();
        self.event_subscriptions.rollback();
        self.secrets.rollback();
        self.internet_gateways.rollback();
        self.route_tables.rollback();
        self.addresses.rollback();
        self.network_interfaces.rollback();
        self.launch_templates.rollback();
        self.db_clusters.rollback();
        self.db_cluster_snapshots.rollback();
        self.db_proxies.rollback();
        self.global_clusters.rollback();
        self.blue_green.rollback();
        self.db_log_backups.rollback();
    }

    /// The storage nodes of a zone that a client cannot reach now (crashed, or cut from the
    /// primary network).
    pub(crate) fn unreachable_nodes(&mut self, zone_id: &AzId) -> Result<Vec<u32>, ControlError> {
        Ok(self.storage_cluster(zone_id)?.lock().unreachable_nodes().into_iter().map(|n| n.0).collect())
    }

    /// `count` distinct storage nodes of a zone, drawn from the region's random stream: where a
    /// new volume's replicas may go, as the control plane sees it before asking the storage.
    pub(crate) fn draw_nodes(&mut self, zone_id: &AzId, count: usize) -> Result<Vec<u32>, ControlError> {
        use rand::seq::SliceRandom;
        let mut nodes: Vec<u32> = self.storage_cluster(zone_id)?.lock().node_ids().into_iter().map(|n| n.0).collect();
        nodes.shuffle(&mut self.rng);
        nodes.truncate(count);
        Ok(nodes)
    }

    /// The region's storage cluster of a zone (by zone id), for fault injection and tests.
    pub(crate) fn storage_cluster(&mut self, zone_id: &AzId) -> Result<squall_storage::SharedCluster, ControlError> {
        self.store.cluster(zone_id.as_str()).map_err(storage_error)
    }

    // ---- volumes ---------------------------------------------------------------------------

    // ---- helpers for the instance operations (instances.rs) ---------------------------------

    pub(crate) fn instances_ref(&self) -> &Table<InstanceId, Instance> {
        &self.instances
    }

    pub(crate) fn instances_mut(&mut self) -> &mut Table<InstanceId, Instance> {
        &mut self.instances
    }

    pub(crate) fn security_groups_ref(&self) -> &Table<String, SecurityGroup> {
        &self.security_groups
    }

    pub(crate) fn security_groups_mut(&mut self) -> &mut Table<String, SecurityGroup> {
        &mut self.security_groups
    }

    pub(crate) fn set_policy(&mut self, kind: squall_storage::PolicyKind) -> Result<(), ControlError> {
        self.store.set_policy(kind).map_err(storage_error)
    }

    /// The storage status of every cluster the region has opened, by zone id.
    pub(crate) fn storage_status(&mut self) -> Vec<crate::status::ZoneStorageStatus> {
        self.store.clusters().map(|(_, c)| c.lock().status().into()).collect()
    }

    pub(crate) fn set_instance_capacity(&mut self, capacity: u32) {
        self.instance_capacity = capacity;
    }

    /// Instances of the zone that hold capacity (all but stopped and terminated ones).
    pub(crate) fn instances_holding_capacity(&self, zone: &AzName) -> u32 {
        self.instances
            .values()
            .filter(|i| i.zone == *zone && !matches!(i.state, InstanceState::Stopped | InstanceState::Terminated))
            .count() as u32
    }

    pub(crate) fn instance_capacity(&self) -> u32 {
        self.instance_capacity
    }

    pub(crate) fn network_ref(&self) -> &NetworkState {
        &self.network
    }

    pub(crate) fn network_mut(&mut self) -> &mut NetworkState {
        &mut self.network
    }

    pub(crate) fn key_pairs_ref(&self) -> &Table<String, KeyPair> {
        &self.key_pairs
    }

    pub(crate) fn key_pairs_mut(&mut self) -> &mut Table<String, KeyPair> {
        &mut self.key_pairs
    }

    pub(crate) fn images_ref(&self) -> &Table<String, Image> {
        &self.images
    }

    pub(crate) fn images_mut(&mut self) -> &mut Table<String, Image> {
        &mut self.images
    }

    pub(crate) fn rng_mut(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A new id of AWS's shape: `prefix-` and 17 hex digits from the region's seeded stream.
    pub(crate) fn random_id(&mut self, prefix: &str) -> String {
        format!("{prefix}-{:017x}", self.next_random() & 0x1_ffff_ffff_ffff_ffff)
    }

    pub(crate) fn next_random(&mut self) -> u128 {
        use rand::RngCore;
        (u128::from(self.rng.next_u64()) << 64) | u128::from(self.rng.next_u64())
    }

    // ---- snapshots -------------------------------------------------------------------------

    // ---- EBS direct APIs -------------------------------------------------------------------

    // ---- tags ------------------------------------------------------------------------------
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::{ControlError, VolumeError};
    use crate::model::volume::{VolumeSpec, VolumeType};
    use crate::{AzName, ControlConfig, ControlPlane, RegionName, VolumeId};

    fn control(dir: &std::path::Path) -> ControlPlane {
        ControlPlane::new(ControlConfig::new(RegionName::parse("us-east-1").expect("region"), dir.to_path_buf()))
    }

    fn spec(size: u32) -> VolumeSpec {
        VolumeSpec {
            zone: AzName::new("us-east-1a".to_string()),
            size_gib: Some(size),
            snapshot_id: None,
            volume_type: VolumeType::Gp3,
            iops: None,
            throughput: None,
            encrypted: false,
            kms_key_id: None,
            multi_attach: false,
            tags: BTreeMap::from([("Name".to_string(), format!("v{size}"))]),
            client_token: None,
        }
    }

    #[test]
    fn storage_no_volume_names_is_reclaimed_and_counted_at_open_and_a_known_volume_never() {
        let dir = tempfile::tempdir().expect("tempdir");
        let us_east_1 = RegionName::parse("us-east-1").expect("region");
        let kept = {
            let c = control(dir.path());
            let region = c.region(&us_east_1);
            let now = c.now_ms();
            let kept = region.create_volume(spec(1), now, false).expect("create");
            // What a crash between the replicas and the row leaves: storage with no volume row.
            let zone = region.zone_by_name("us-east-1a").expect("zone").id;
            region
                .with_state(now, |state| {
                    let cluster = state.store.cluster(zone.as_str()).map_err(crate::state::storage_error)?;
                    let orphan = squall_storage::VolumeId::new("vol-0000000000000dead").expect("name");
                    cluster.lock().create_volume(&orphan, 1 << 30).map_err(crate::state::storage_error)?;
                    Ok(())
                })
                .expect("orphan made");
            kept
        };
        let c = control(dir.path());
        let region = c.region(&us_east_1);
        let zones = region.with_state(c.now_ms(), |s| Ok(s.storage_status())).expect("status");
        let zone = zones.iter().find(|z| z.volumes > 0).expect("the kept volume's zone");
        assert_eq!(zone.volumes, 1, "only the known volume is left");
        assert_eq!(zone.counters.orphans_reclaimed, 1, "the orphan is counted");
        let back = region.read(c.now_ms(), |s| Ok(s.volume(&kept.id)?.clone())).expect("kept volume");
        assert_eq!(back.id, kept.id);
        // Opening again finds nothing more to reclaim.
        drop(region);
        drop(c);
        let c = control(dir.path());
        let zones = c.region(&us_east_1).with_state(c.now_ms(), |s| Ok(s.storage_status())).expect("status");
        assert_eq!(zones.iter().map(|z| z.counters.orphans_reclaimed).sum::<u64>(), 0);
        assert_eq!(zones.iter().map(|z| z.volumes).sum::<usize>(), 1);
    }

    #[test]
    fn a_failed_command_leaves_nothing_and_a_committed_one_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let us_east_1 = RegionName::parse("us-east-1").expect("region");
        let c = control(dir.path());
        let region = c.region(&us_east_1);
        let now = c.now_ms();
        let zone = region.zone_by_name("us-east-1a").expect("zone").id;
        let kept = region.create_volume(spec(1), now, false).expect("create");
        // Two volumes made, then a failure: the command is undone whole.
        let failed = region.with_state(now, |state| {
            state.create_volume(spec(2), zone.clone(), now, false)?;
            state.create_volume(spec(3), zone.clone(), now, false)?;
            Err::<(), _>(ControlError::Volume(VolumeError::InsufficientVolumeCapacity { zone: "injected".into() }))
        });
        assert!(matches!(failed, Err(ControlError::Volume(VolumeError::InsufficientVolumeCapacity { .. }))));
        let (listed, stored) = region
            .with_state(now, |state| {
                let listed: Vec<VolumeId> =
                    state.volumes_after(None, 100, |_| true).0.into_iter().map(|v| v.id).collect();
                let stored: usize = state.storage_status().iter().map(|s| s.volumes).sum();
                Ok((listed, stored))
            })
            .expect("read");
        assert_eq!(listed, vec![kept.id.clone()]);
        assert_eq!(stored, 1, "the failed command's volumes are gone from the block store too");
        drop(region);
        drop(c);
        let c = control(dir.path());
        let after = c.region(&us_east_1).read(c.now_ms(), |state| Ok(state.volumes_after(None, 100, |_| true).0));
        let after = after.expect("read");
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].id, kept.id);
        assert_eq!(after[0].tags, kept.tags);
    }

    #[test]
    fn a_restart_never_hands_out_an_id_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let us_east_1 = RegionName::parse("us-east-1").expect("region");
        // Three runs alike after the first: a volume made, deleted and settled in each.
        let ids: Vec<VolumeId> = (0..3)
            .map(|_| {
                let c = control(dir.path());
                let region = c.region(&us_east_1);
                let v = region.create_volume(spec(1), c.now_ms(), false).expect("create");
                region.delete_volume(&v.id, c.now_ms() + 1_000, false).expect("delete");
                let gone = region.read(c.now_ms() + 600_000, |state| Ok(state.volume(&v.id).is_err()));
                assert!(gone.expect("read"), "the deletion settled");
                v.id
            })
            .collect();
        assert_ne!(ids[1], ids[2], "a restart handed out the id of a volume deleted before it");
        assert_ne!(ids[0], ids[1]);
    }
}
