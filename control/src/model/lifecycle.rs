//! How long transitions take, and which rows have one in flight.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::ids::{InstanceId, SnapshotId, VolumeId};
use crate::model::snapshot::{Snapshot, SnapshotState};
use crate::model::volume::{AttachmentState, ModificationState, Volume, VolumeState};
use crate::table::Table;

/// How long each asynchronous transition takes. Short by default so waiters return quickly, but
/// not zero, so they do wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleDelays {
    pub volume_create: Duration,
    pub volume_delete: Duration,
    pub attach: Duration,
    pub detach: Duration,
    pub snapshot: Duration,
    pub modification: Duration,
    /// How long a Multi-AZ DB instance's primary storage may be stuck before RDS fails over to
    /// the standby (AWS takes 60–120 s; squall a short, fixed default, not the lifecycle delay).
    pub db_failover_detect: Duration,
    /// How often RDS backs up a DB instance's changes for point-in-time restore (AWS uploads
    /// transaction logs every 5 minutes; squall takes a log backup of the storage, short by
    /// default so a restore to a recent time finds one).
    pub db_log_backup: Duration,
}

/// The default of [`LifecycleDelays::db_failover_detect`].
pub const DB_FAILOVER_DETECT: Duration = Duration::from_secs(2);
/// The default of [`LifecycleDelays::db_log_backup`].
pub const DB_LOG_BACKUP: Duration = Duration::from_secs(1);

impl LifecycleDelays {
    /// The same delay for every transition.
    pub fn uniform(delay: Duration) -> Self {
        Self {
            volume_create: delay,
            volume_delete: delay,
            attach: delay,
            detach: delay,
            snapshot: delay,
            modification: delay,
            db_failover_detect: DB_FAILOVER_DETECT,
            db_log_backup: DB_LOG_BACKUP,
        }
    }
}

impl Default for LifecycleDelays {
    fn default() -> Self {
        Self::uniform(Duration::from_millis(300))
    }
}

/// The earliest time one of the volume's pending transitions falls due (`u64::MAX`: none).
pub(crate) fn volume_next_due(v: &Volume, d: LifecycleDelays) -> u64 {
    let at = |since: u64, delay: Duration| since.saturating_add(delay.as_millis() as u64);
    let mut next = match v.state {
        VolumeState::Creating => at(v.state_since_ms, d.volume_create),
        VolumeState::Deleting => at(v.state_since_ms, d.volume_delete),
        VolumeState::Available | VolumeState::InUse => u64::MAX,
    };
    if let Some(m) = &v.modification {
        if m.state != ModificationState::Completed {
            next = next.min(at(m.state_since_ms, d.modification));
        }
    }
    for a in &v.attachments {
        match a.state {
            AttachmentState::Attaching => next = next.min(at(a.since_ms, d.attach)),
            AttachmentState::Detaching => next = next.min(at(a.since_ms, d.detach)),
            AttachmentState::Attached => {}
        }
    }
    next
}

#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) volumes: BTreeSet<VolumeId>,
    pub(crate) snapshots: BTreeSet<SnapshotId>,
    pub(crate) instances: BTreeSet<InstanceId>,
}

/// When a snapshot completes by itself (`u64::MAX`: it does not, or has).
pub(crate) fn snapshot_next_due(s: &Snapshot, d: LifecycleDelays) -> u64 {
    if s.state == SnapshotState::Pending && !s.awaiting_completion {
        s.start_time_ms.saturating_add(d.snapshot.as_millis() as u64)
    } else {
        u64::MAX
    }
}

/// The pending rows whose next transition has fallen due at `now_ms`.
pub(crate) fn due_now<K: Ord + Clone, V: Clone + PartialEq>(
    pending: &BTreeSet<K>,
    table: &Table<K, V>,
    due: impl Fn(&V) -> u64,
    now_ms: u64,
) -> Vec<K> {
    pending.iter().filter(|k| table.get(*k).is_some_and(|row| due(row) <= now_ms)).cloned().collect()
}

/// Puts each changed row in or out of a pending set, by whether it still has a transition due.
pub(crate) fn track<K: Ord + Clone, V: Clone + PartialEq>(
    set: &mut BTreeSet<K>,
    table: &Table<K, V>,
    due: impl Fn(&V) -> u64,
) {
    for (key, row) in table.changes() {
        if row.is_some_and(|r| due(r) < u64::MAX) {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }
}
