//! The authority's durable log: every change of a cluster's configuration (policy, nodes, each
//! volume's replica set and epoch) is one line appended and `fdatasync`'d before the change takes
//! effect, so a record costs O(1) to persist however many volumes the cluster holds, and a
//! `kill -9` loses nothing that was acknowledged.
//!
//! A line is `<crc32c as 8 hex digits> <json>\n`. Opening replays the lines in order; a torn or
//! corrupt tail (a crash in the middle of an append) ends the replay and is cut off. When the log
//! holds many more lines than live records, it is rewritten as one line per record (written to a
//! temporary file, synced, renamed, the directory synced), so start-up stays proportional to the
//! cluster's size.
//!
//! Format history: version 1 was `authority.json`, the whole configuration rewritten per change;
//! opening a cluster that has only that file imports it and compacts it into the log.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::PolicyKind;
use crate::{NodeId, StorageError, VolumeId};

/// Version of the log's line format (version 1 was the whole-file `authority.json`).
pub(crate) const JOURNAL_FORMAT: u32 = 2;
const LOG: &str = "authority.log";
const LEGACY: &str = "authority.json";
/// A rewrite is due when the log has this many lines beyond twice the live records (so small
/// clusters never compact and large ones compact rarely).
const COMPACT_SLACK: usize = 4096;

/// One change of the authority's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub(crate) enum Entry {
    Format { version: u32 },
    Policy { policy: PolicyKind },
    Node { id: NodeId, capacity: u64 },
    Volume { id: VolumeId, record: VolumeRecord },
    Forget { id: VolumeId },
}

/// The configuration a cluster is made of, as replayed from its log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    pub policy: Option<PolicyKind>,
    pub nodes: BTreeMap<NodeId, u64>,
    pub volumes: BTreeMap<VolumeId, VolumeRecord>,
}

impl Authority {
    fn apply(&mut self, entry: Entry) -> Result<(), StorageError> {
        match entry {
            Entry::Format { version } if version != JOURNAL_FORMAT => {
                return Err(StorageError::StoreIo(format!("authority log format {version} is not supported")))
            }
            Entry::Format { .. } => {}
            Entry::Policy { policy } => self.policy = Some(policy),
            Entry::Node { id, capacity } => {
                self.nodes.insert(id, capacity);
            }
            Entry::Volume { id, record } => {
                self.volumes.insert(id, record);
            }
            Entry::Forget { id } => {
                self.volumes.remove(&id);
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<Entry> {
        let mut out = vec![Entry::Format { version: JOURNAL_FORMAT }];
        out.extend(self.policy.map(|policy| Entry::Policy { policy }));
        out.extend(self.nodes.iter().map(|(id, capacity)| Entry::Node { id: *id, capacity: *capacity }));
        out.extend(self.volumes.iter().map(|(id, r)| Entry::Volume { id: id.clone(), record: r.clone() }));
        out
    }
}

/// The whole-file format of version 1, read once to import it.
#[derive(Debug, Deserialize)]
struct LegacyFile {
    format_version: u32,
    policy: PolicyKind,
    nodes: Vec<LegacyNode>,
    volumes: BTreeMap<VolumeId, VolumeRecord>,
}

#[derive(Debug, Deserialize)]
struct LegacyNode {
    id: NodeId,
    capacity: u64,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::StoreIo(e.to_string())
}

fn line(entry: &Entry) -> Result<Vec<u8>, StorageError> {
    let json = serde_json::to_vec(entry).map_err(io)?;
    let mut out = format!("{:08x} ", crc32c::crc32c(&json)).into_bytes();
    out.extend_from_slice(&json);
    out.push(b'\n');
    Ok(out)
}

fn parse(text: &[u8]) -> Option<Entry> {
    let body = text.strip_suffix(b"\n")?;
    let (crc, json) = (body.get(..8)?, body.get(9..)?);
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    (crc32c::crc32c(json) == crc).then(|| serde_json::from_slice(json).ok()).flatten()
}

/// The authority's configuration record of one volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub size: u64,
    pub primary: NodeId,
    pub secondary: NodeId,
    /// Incremented at every new replica set; replicas refuse requests of another epoch.
    pub epoch: u64,
    /// Set while the volume has no confirmed writable primary (its I/O blocks).
    pub stuck_since_ms: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    file: File,
    lines: usize,
}

impl Journal {
    /// Opens the log in `dir` and replays it (importing a version-1 `authority.json` the first
    /// time). `None` when the cluster is new.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Option<Authority>), StorageError> {
        let path = dir.join(LOG);
        let mut found = None;
        let mut lines = 0;
        match File::open(&path) {
            Ok(f) => {
                let mut authority = Authority::default();
                let mut reader = BufReader::new(f);
                let mut good_len = 0u64;
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
                    // A crash mid-append leaves a line without its newline or with a bad sum: the
                    // change it held was never acknowledged, so the replay ends there.
                    let Some(entry) = (n > 0).then(|| parse(&buf)).flatten() else { break };
                    authority.apply(entry)?;
                    good_len += n as u64;
                    lines += 1;
                }
                let f = OpenOptions::new().write(true).open(&path).map_err(io)?;
                if f.metadata().map_err(io)?.len() != good_len {
                    f.set_len(good_len).map_err(io)?;
                    f.sync_all().map_err(io)?;
                }
                found = Some(authority);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(legacy) = Self::read_legacy(dir)? {
                    found = Some(legacy);
                }
            }
            Err(e) => return Err(io(e)),
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(io)?;
        let mut journal = Self { dir: dir.to_path_buf(), file, lines };
        if lines == 0 {
            // New, or imported: start the log with everything known (and the format line).
            journal.rewrite(found.as_ref().unwrap_or(&Authority::default()))?;
            if found.is_some() {
                fs::remove_file(dir.join(LEGACY)).map_err(io)?;
            }
        }
        Ok((journal, found))
    }

    fn read_legacy(dir: &Path) -> Result<Option<Authority>, StorageError> {
        let bytes = match fs::read(dir.join(LEGACY)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let file: LegacyFile = serde_json::from_slice(&bytes).map_err(io)?;
        if file.format_version != 1 {
            return Err(io(format!("authority format {} is not supported", file.format_version)));
        }
        Ok(Some(Authority {
            policy: Some(file.policy),
            nodes: file.nodes.into_iter().map(|n| (n.id, n.capacity)).collect(),
            volumes: file.volumes,
        }))
    }

    /// Appends the entries and makes them durable before returning.
    pub(crate) fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let mut bytes = Vec::new();
        for e in entries {
            bytes.extend(line(e)?);
        }
        self.file.write_all(&bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.lines += entries.len();
        Ok(())
    }

    /// Whether the log has grown well past the live state (the caller then `rewrite`s it).
    pub(crate) fn wants_compaction(&self, live_records: usize) -> bool {
        self.lines > 2 * live_records + COMPACT_SLACK
    }

    /// Replaces the log with one line per live record, atomically.
    pub(crate) fn rewrite(&mut self, authority: &Authority) -> Result<(), StorageError> {
        let tmp = self.dir.join(format!("{LOG}.tmp"));
        let entries = authority.entries();
        let mut bytes = Vec::new();
        for e in &entries {
            bytes.extend(line(e)?);
        }
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, self.dir.join(LOG)).map_err(io)?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io)?;
        self.file = OpenOptions::new().append(true).open(self.dir.join(LOG)).map_err(io)?;
        self.lines = entries.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u64) -> VolumeRecord {
        VolumeRecord { size: 1 << 30, primary: NodeId(0), secondary: NodeId(1), epoch, stuck_since_ms: None }
    }

    fn vol(name: &str) -> VolumeId {
        VolumeId::new(name).unwrap()
    }

    #[test]
    fn appended_changes_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, found) = Journal::open(dir.path()).unwrap();
        assert_eq!(found, None);
        j.append(&[Entry::Policy { policy: PolicyKind::Legacy }, Entry::Node { id: NodeId(0), capacity: 7 }]).unwrap();
        j.append(&[Entry::Volume { id: vol("a"), record: record(1) }]).unwrap();
        j.append(&[Entry::Volume { id: vol("b"), record: record(1) }]).unwrap();
        j.append(&[Entry::Volume { id: vol("a"), record: record(2) }, Entry::Forget { id: vol("b") }]).unwrap();
        drop(j);
        let (_, found) = Journal::open(dir.path()).unwrap();
        let a = found.unwrap();
        assert_eq!(a.policy, Some(PolicyKind::Legacy));
        assert_eq!(a.nodes, BTreeMap::from([(NodeId(0), 7)]));
        assert_eq!(a.volumes, BTreeMap::from([(vol("a"), record(2))]));
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_later_appends_survive() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        j.append(&[Entry::Volume { id: vol("a"), record: record(1) }]).unwrap();
        drop(j);
        // A crash in the middle of the next append: half a line, then a line with a bad sum.
        let whole = line(&Entry::Volume { id: vol("b"), record: record(1) }).unwrap();
        let mut f = OpenOptions::new().append(true).open(dir.path().join(LOG)).unwrap();
        f.write_all(&whole[..whole.len() / 2]).unwrap();
        drop(f);
        let (mut j, found) = Journal::open(dir.path()).unwrap();
        assert_eq!(found.unwrap().volumes.keys().cloned().collect::<Vec<_>>(), vec![vol("a")]);
        j.append(&[Entry::Volume { id: vol("c"), record: record(1) }]).unwrap();
        drop(j);
        let mut bad = line(&Entry::Forget { id: vol("a") }).unwrap();
        bad[0] ^= 1;
        OpenOptions::new().append(true).open(dir.path().join(LOG)).unwrap().write_all(&bad).unwrap();
        let (_, found) = Journal::open(dir.path()).unwrap();
        assert_eq!(found.unwrap().volumes.keys().cloned().collect::<Vec<_>>(), vec![vol("a"), vol("c")]);
    }

    #[test]
    fn a_version_1_authority_file_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = r#"{"format_version":1,"policy":"hardened","nodes":[{"id":0,"capacity":10},{"id":1,"capacity":10}],
            "volumes":{"vol-1":{"size":1073741824,"primary":0,"secondary":1,"epoch":3,"stuck_since_ms":null}}}"#;
        fs::write(dir.path().join(LEGACY), legacy).unwrap();
        let (_, found) = Journal::open(dir.path()).unwrap();
        let a = found.unwrap();
        assert_eq!(a.policy, Some(PolicyKind::Hardened));
        assert_eq!(a.volumes[&vol("vol-1")], record(3));
        assert!(!dir.path().join(LEGACY).exists());
        let (_, again) = Journal::open(dir.path()).unwrap();
        assert_eq!(again.unwrap(), a);
    }

    #[test]
    fn compaction_keeps_the_live_records_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        let mut live = Authority::default();
        for epoch in 0..(COMPACT_SLACK as u64 + 10) {
            live.volumes.insert(vol("a"), record(epoch));
            j.append(&[Entry::Volume { id: vol("a"), record: record(epoch) }]).unwrap();
        }
        assert!(j.wants_compaction(1));
        j.rewrite(&live).unwrap();
        assert!(!j.wants_compaction(1));
        let text = fs::read_to_string(dir.path().join(LOG)).unwrap();
        assert_eq!(text.lines().count(), 2);
        drop(j);
        assert_eq!(Journal::open(dir.path()).unwrap().1.unwrap(), live);
    }
}
