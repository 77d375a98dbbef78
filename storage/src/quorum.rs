//! A volume kept as copies in several clusters, written and read by quorum: the storage of an
//! Aurora-style cluster volume, six copies in three zones (each member a volume of two replicas in
//! its zone's cluster). A write is acknowledged when the members that took it hold at least the
//! write quorum of copies (four of six): losing a whole zone leaves four, and the volume stays
//! writable; losing a zone and one more copy leaves too few, and writes are refused
//! ([`StorageError::NoQuorum`]) while reads go on from a member that has every acknowledged write.
//!
//! A member that misses a write (stuck, its node down, its zone cut off) is stale for that range
//! until [`QuorumVolume::repair`] copies the range from a current member. What each member missed
//! is recorded durably (a small file, synced) before the write that it missed is acknowledged, so
//! a restart never reads a range from a member that lacks it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::{SharedCluster, StorageError, VolumeId};

/// One member of a quorum volume: a volume of a cluster, holding `copies` copies.
#[derive(Debug, Clone)]
pub struct QuorumMember {
    pub cluster: SharedCluster,
    pub volume: VolumeId,
    pub copies: u32,
}

/// Ranges (offset → end) a member missed, merged.
type Ranges = BTreeMap<u64, u64>;

fn add_range(ranges: &mut Ranges, start: u64, end: u64) {
    let (mut start, mut end) = (start, end);
    let overlapping: Vec<(u64, u64)> =
        ranges.range(..=end).filter(|(s, e)| **e >= start && **s <= end).map(|(s, e)| (*s, *e)).collect();
    for (s, e) in overlapping {
        ranges.remove(&s);
        start = start.min(s);
        end = end.max(e);
    }
    ranges.insert(start, end);
}

fn overlaps(ranges: &Ranges, start: u64, end: u64) -> bool {
    ranges.range(..end).any(|(_, e)| *e > start)
}

/// What a quorum volume can answer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumHealth {
    /// Copies of members that answer and have every acknowledged write.
    pub current_copies: u32,
    pub total_copies: u32,
    pub write_quorum: u32,
    pub read_quorum: u32,
}

impl QuorumHealth {
    pub fn writable(&self) -> bool {
        self.current_copies >= self.write_quorum
    }

    pub fn readable(&self) -> bool {
        self.current_copies >= self.read_quorum
    }
}

#[derive(Debug)]
pub struct QuorumVolume {
    members: Vec<QuorumMember>,
    write_quorum: u32,
    read_quorum: u32,
    /// What each member missed, by member index.
    stale: Mutex<Vec<Ranges>>,
    /// Where `stale` is kept.
    journal: PathBuf,
}

impl QuorumVolume {
    /// The volume over `members` (their volumes exist), with what they missed read from
    /// `journal` when it exists.
    pub fn open(
        members: Vec<QuorumMember>,
        write_quorum: u32,
        read_quorum: u32,
        journal: &Path,
    ) -> Result<Self, StorageError> {
        let total: u32 = members.iter().map(|m| m.copies).sum();
        if write_quorum == 0 || write_quorum > total || read_quorum == 0 || read_quorum + write_quorum <= total {
            return Err(StorageError::StoreIo(format!(
                "quorums {write_quorum}/{read_quorum} do not overlap over {total} copies"
            )));
        }
        let mut stale = vec![Ranges::new(); members.len()];
        match fs::read_to_string(journal) {
            Ok(text) => {
                for line in text.lines() {
                    let mut parts = line.split_whitespace().map(str::parse::<u64>);
                    if let (Some(Ok(m)), Some(Ok(s)), Some(Ok(e))) = (parts.next(), parts.next(), parts.next()) {
                        if let Some(r) = stale.get_mut(m as usize) {
                            add_range(r, s, e);
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::StoreIo(format!("{}: {e}", journal.display()))),
        }
        Ok(Self { members, write_quorum, read_quorum, stale: Mutex::new(stale), journal: journal.to_path_buf() })
    }

    fn stale(&self) -> std::sync::MutexGuard<'_, Vec<Ranges>> {
        self.stale.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what each member missed, synced, before anything depending on it is answered.
    fn save(&self, stale: &[Ranges]) -> Result<(), StorageError> {
        let mut text = String::new();
        for (m, ranges) in stale.iter().enumerate() {
            for (s, e) in ranges {
                text.push_str(&format!("{m} {s} {e}\n"));
            }
        }
        let tmp = self.journal.with_extension("tmp");
        let io = |e: std::io::Error| StorageError::StoreIo(format!("{}: {e}", self.journal.display()));
        let mut f = fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &self.journal).map_err(io)?;
        if let Some(dir) = self.journal.parent() {
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }

    fn member_write(&self, m: &QuorumMember, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let plan = m.cluster.lock().plan_io(&m.volume, Some(data.len() as u64))?;
        plan.write(offset, data)
    }

    fn member_read(&self, m: &QuorumMember, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let plan = m.cluster.lock().plan_io(&m.volume, None)?;
        match plan.read(offset, len) {
            // A block that fails its checksum is read again under the cluster, which repairs it.
            Err(StorageError::Corrupt { .. }) => m.cluster.lock().read(&m.volume, offset, len),
            other => other,
        }
    }

    /// Writes `data` at `offset` on every member; acknowledged when the members that took it
    /// (and are current) hold the write quorum. Members that missed it are recorded stale for
    /// the range first. Without a quorum the write is refused: it may have reached some members,
    /// but it was never acknowledged.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let end = offset + data.len() as u64;
        let outcomes: Vec<Result<(), StorageError>> =
            self.members.iter().map(|m| self.member_write(m, offset, data)).collect();
        let mut stale = self.stale();
        let mut acked = 0;
        let mut changed = false;
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                // A member that took it holds this write; what it missed before stays recorded
                // (and unread from it) until repaired.
                Ok(()) => acked += self.members[i].copies,
                Err(_) => {
                    add_range(&mut stale[i], offset, end);
                    changed = true;
                }
            }
        }
        if changed {
            self.save(&stale)?;
        }
        if acked >= self.write_quorum {
            return Ok(());
        }
        let first = outcomes.into_iter().find_map(Result::err);
        Err(StorageError::NoQuorum {
            volume: self.members[0].volume.clone(),
            acked,
            needed: self.write_quorum,
            cause: first.map(|e| e.to_string()).unwrap_or_default(),
        })
    }

    /// Reads from the first member that has every acknowledged write of the range and answers.
    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let current: Vec<usize> = {
            let stale = self.stale();
            (0..self.members.len()).filter(|i| !overlaps(&stale[*i], offset, offset + len)).collect()
        };
        let mut last = None;
        for i in current {
            match self.member_read(&self.members[i], offset, len) {
                Ok(bytes) => return Ok(bytes),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| StorageError::NoLiveReplica(self.members[0].volume.clone())))
    }

    /// Makes the acknowledged writes durable: every answering member is flushed, and the flush
    /// succeeds when they hold the write quorum.
    pub fn flush(&self) -> Result<(), StorageError> {
        let mut flushed = 0;
        let mut first = None;
        for m in &self.members {
            let outcome = m.cluster.lock().flush_handles(&m.volume).and_then(|h| h.sync());
            match outcome {
                Ok(()) => flushed += m.copies,
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if flushed >= self.write_quorum {
            return Ok(());
        }
        Err(StorageError::NoQuorum {
            volume: self.members[0].volume.clone(),
            acked: flushed,
            needed: self.write_quorum,
            cause: first.map(|e| e.to_string()).unwrap_or_default(),
        })
    }

    /// Copies what stale members missed from current ones, range by range, as far as members
    /// answer; answers the bytes copied.
    pub fn repair(&self) -> Result<u64, StorageError> {
        const CHUNK: u64 = 1 << 20;
        let todo: Vec<(usize, u64, u64)> = {
            let stale = self.stale();
            stale.iter().enumerate().flat_map(|(i, r)| r.iter().map(move |(s, e)| (i, *s, *e))).collect()
        };
        let mut copied = 0;
        for (member, start, end) in todo {
            let mut at = start;
            while at < end {
                let len = CHUNK.min(end - at);
                let source = {
                    let stale = self.stale();
                    (0..self.members.len()).find(|i| *i != member && !overlaps(&stale[*i], at, at + len))
                };
                let Some(source) = source else { break };
                let Ok(bytes) = self.member_read(&self.members[source], at, len) else { break };
                if self.member_write(&self.members[member], at, &bytes).is_err() {
                    break;
                }
                at += len;
                copied += len;
            }
            if at > start {
                let mut stale = self.stale();
                let ranges = &mut stale[member];
                // What was copied is current again; a write it missed meanwhile stays recorded.
                if let Some(e) = ranges.remove(&start) {
                    if e > at {
                        ranges.insert(at, e);
                    }
                }
                let snapshot = stale.clone();
                drop(stale);
                self.save(&snapshot)?;
            }
        }
        Ok(copied)
    }

    /// Which members answer now and have every acknowledged write.
    pub fn health(&self) -> QuorumHealth {
        let current_copies = self.current_members().iter().map(|i| self.members[*i].copies).sum();
        QuorumHealth {
            current_copies,
            total_copies: self.members.iter().map(|m| m.copies).sum(),
            write_quorum: self.write_quorum,
            read_quorum: self.read_quorum,
        }
    }

    /// Members that answer now and have every acknowledged write (a consistent copy of the
    /// whole volume: what a snapshot is taken from).
    pub fn current_members(&self) -> Vec<usize> {
        let stale = self.stale().clone();
        (0..self.members.len())
            .filter(|i| {
                let m = &self.members[*i];
                stale[*i].is_empty() && m.cluster.lock().plan_io(&m.volume, None).is_ok()
            })
            .collect()
    }

    pub fn members(&self) -> &[QuorumMember] {
        &self.members
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{ClusterConfig, ManualClock, NodeId, RegionStore};

    const MIB: u64 = 1 << 20;

    /// Three zones of four nodes, a member volume in each: six copies, quorums 4 and 3.
    fn setup(dir: &Path) -> (RegionStore, QuorumVolume) {
        let clock = Arc::new(ManualClock::new());
        let config = ClusterConfig { node_capacity: 64 * MIB, ..ClusterConfig::default() };
        let mut store = RegionStore::open(&dir.join("store"), config, clock, 7).unwrap();
        let mut members = Vec::new();
        for zone in ["az1", "az2", "az3"] {
            let cluster = store.cluster(zone).unwrap();
            let volume = VolumeId::new("cluster-volume").unwrap();
            cluster.lock().create_volume(&volume, 4 * MIB).unwrap();
            members.push(QuorumMember { cluster, volume, copies: 2 });
        }
        let q = QuorumVolume::open(members, 4, 3, &dir.join("stale")).unwrap();
        (store, q)
    }

    /// The clusters' background work (re-confirming primaries of volumes whose nodes returned).
    fn settle(q: &QuorumVolume) {
        for _ in 0..50 {
            for m in q.members() {
                m.cluster.lock().tick().unwrap();
            }
            if q.members().iter().all(|m| m.cluster.lock().plan_io(&m.volume, None).is_ok()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the member volumes did not recover");
    }

    fn replica_nodes(m: &QuorumMember) -> (NodeId, NodeId) {
        let c = m.cluster.lock();
        let r = c.record(&m.volume).unwrap();
        (r.primary, r.secondary)
    }

    #[test]
    fn one_zone_lost_keeps_it_writable_and_a_zone_plus_a_copy_makes_it_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, q) = setup(dir.path());
        q.write(0, b"before").unwrap();
        assert_eq!(q.health().current_copies, 6);

        // The first zone goes: both its copies.
        let (a, b) = replica_nodes(&q.members()[0]);
        q.members()[0].cluster.lock().crash_node(a).unwrap();
        q.members()[0].cluster.lock().crash_node(b).unwrap();
        q.write(4096, b"one zone down").unwrap();
        assert_eq!(q.read(4096, 13).unwrap(), b"one zone down");
        assert_eq!(q.read(0, 6).unwrap(), b"before");
        let health = q.health();
        assert!(health.writable() && health.current_copies == 4, "{health:?}");

        // One more copy, in the second zone: four copies gone, the write is refused.
        let (c, _) = replica_nodes(&q.members()[1]);
        q.members()[1].cluster.lock().crash_node(c).unwrap();
        let refused = q.write(8192, b"no quorum");
        assert!(matches!(refused, Err(StorageError::NoQuorum { acked: 2, needed: 4, .. })), "{refused:?}");
        assert!(!q.health().writable());
        // Read-only: every acknowledged write still reads back, from the third zone.
        assert_eq!(q.read(4096, 13).unwrap(), b"one zone down");
        assert_eq!(q.read(0, 6).unwrap(), b"before");

        // The nodes come back: the members that missed writes are repaired, then all six count.
        q.members()[1].cluster.lock().restart_node(c).unwrap();
        q.members()[0].cluster.lock().restart_node(a).unwrap();
        q.members()[0].cluster.lock().restart_node(b).unwrap();
        settle(&q);
        assert!(q.repair().unwrap() > 0);
        assert_eq!(q.health().current_copies, 6);
        q.write(8192, b"quorum again").unwrap();
        for m in q.members() {
            assert_eq!(m.cluster.lock().read(&m.volume, 4096, 13).unwrap(), b"one zone down");
        }
    }

    #[test]
    fn what_a_member_missed_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (store, q) = setup(dir.path());
        let (a, b) = replica_nodes(&q.members()[2]);
        q.members()[2].cluster.lock().crash_node(a).unwrap();
        q.members()[2].cluster.lock().crash_node(b).unwrap();
        q.write(0, b"acknowledged without zone 3").unwrap();
        q.members()[2].cluster.lock().restart_node(a).unwrap();
        q.members()[2].cluster.lock().restart_node(b).unwrap();
        settle(&q);
        let members = q.members().to_vec();
        drop(q);
        // Reopened: zone 3 answers again but is still known to lack the write (four current
        // copies, not six), so a read never comes from it: with the other two zones down, the
        // read fails rather than answer zone 3's zeros.
        let q = QuorumVolume::open(members, 4, 3, &dir.path().join("stale")).unwrap();
        assert_eq!(q.health().current_copies, 4);
        assert_eq!(q.read(0, 27).unwrap(), b"acknowledged without zone 3");
        for m in &q.members()[..2] {
            let (x, y) = replica_nodes(m);
            m.cluster.lock().crash_node(x).unwrap();
            m.cluster.lock().crash_node(y).unwrap();
        }
        assert!(q.read(0, 27).is_err());
        drop(store);
    }

    #[test]
    fn quorums_must_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, q) = setup(dir.path());
        let members = q.members().to_vec();
        assert!(QuorumVolume::open(members.clone(), 3, 3, &dir.path().join("x")).is_err());
        assert!(QuorumVolume::open(members, 7, 1, &dir.path().join("y")).is_err());
    }
}
