//! The EBS direct APIs: snapshots written and read block by block (StartSnapshot,
//! PutSnapshotBlock, CompleteSnapshot, ListSnapshotBlocks, ListChangedBlocks, GetSnapshotBlock).

use std::collections::BTreeMap;

use crate::error::{ControlError, SnapshotError, VolumeError};
use crate::ids::SnapshotId;
use crate::model::snapshot::{ChangedBlock, Snapshot, SnapshotBlock, SnapshotState, DIRECT_BLOCK_SIZE};
use crate::model::volume::VolumeType;
use crate::region::Region;
use crate::state::{storage_error, store_name, RegionState, GIB};
use crate::tags::MAX_TAGS;

impl RegionState {
    /// StartSnapshot: an empty snapshot (or one holding `parent`'s blocks) to be written block by block.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_snapshot(
        &mut self,
        volume_size_gib: u32,
        parent: Option<&SnapshotId>,
        description: String,
        tags: BTreeMap<String, String>,
        encrypted: bool,
        kms_key_id: Option<String>,
        now_ms: u64,
    ) -> Result<Snapshot, ControlError> {
        if volume_size_gib == 0 || volume_size_gib > 65_536 {
            return Err(ControlError::Volume(VolumeError::InvalidVolumeSize {
                volume_type: VolumeType::Gp3,
                size_gib: volume_size_gib,
                min_gib: 1,
                max_gib: 65_536,
            }));
        }
        if let Some(p) = parent {
            let parent_snapshot = self.snapshot(p)?;
            if parent_snapshot.state != SnapshotState::Completed {
                return Err(ControlError::Snapshot(SnapshotError::SnapshotNotCompleted(p.clone())));
            }
            if parent_snapshot.volume_size_gib > volume_size_gib {
                return Err(ControlError::Volume(VolumeError::VolumeSmallerThanSnapshot {
                    size_gib: volume_size_gib,
                    snapshot_gib: parent_snapshot.volume_size_gib,
                }));
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(ControlError::TooManyTags);
        }
        let id = self.new_snapshot_id();
        let parent_name = parent.map(|p| store_name(p.as_str())).transpose()?;
        self.store
            .snapshots()
            .start(&store_name(id.as_str())?, u64::from(volume_size_gib) * GIB, parent_name.as_ref())
            .map_err(storage_error)?;
        let snapshot = Snapshot {
            id: id.clone(),
            volume_id: None,
            volume_size_gib,
            description,
            start_time_ms: now_ms,
            state: SnapshotState::Pending,
            encrypted,
            kms_key_id,
            tags,
            create_volume_permissions: Vec::new(),
            awaiting_completion: true,
            parent: parent.cloned(),
            tiering: None,
            owner: None,
        };
        self.snapshots.insert(id, snapshot.clone());
        Ok(snapshot)
    }

    /// PutSnapshotBlock: stores one 512 KiB block; returns its SHA-256.
    pub(crate) fn put_snapshot_block(
        &mut self,
        id: &SnapshotId,
        index: u64,
        data: &[u8],
    ) -> Result<[u8; 32], ControlError> {
        let s = self.snapshot(id)?;
        if !s.awaiting_completion {
            return Err(ControlError::Snapshot(SnapshotError::SnapshotNotPending(id.clone())));
        }
        if index >= u64::from(s.volume_size_gib) * GIB / DIRECT_BLOCK_SIZE {
            return Err(ControlError::Snapshot(SnapshotError::BlockIndexOutOfRange { snapshot: id.clone(), index }));
        }
        self.store.snapshots().write_block(&store_name(id.as_str())?, index, data).map_err(storage_error)
    }

    /// CompleteSnapshot: checks the number of blocks written and, when given, the LINEAR
    /// aggregate checksum (SHA-256 over the blocks' raw SHA-256 digests in index order, as AWS's
    /// coldsnap computes it); the snapshot then completes.
    pub(crate) fn complete_snapshot(
        &mut self,
        id: &SnapshotId,
        changed_blocks: u64,
        linear_checksum: Option<&[u8]>,
    ) -> Result<(), ControlError> {
        let s = self.snapshot(id)?;
        if !s.awaiting_completion {
            return Err(ControlError::Snapshot(SnapshotError::SnapshotNotPending(id.clone())));
        }
        let info = self.store.snapshots().info(&store_name(id.as_str())?).map_err(storage_error)?;
        if info.written_blocks.len() as u64 != changed_blocks {
            return Err(ControlError::Snapshot(SnapshotError::ChangedBlocksMismatch {
                snapshot: id.clone(),
                declared: changed_blocks,
                written: info.written_blocks.len() as u64,
            }));
        }
        if let Some(expected) = linear_checksum {
            let mut concatenated = Vec::with_capacity(info.written_blocks.len() * 32);
            for index in &info.written_blocks {
                let hash = info
                    .blocks
                    .get(index)
                    .ok_or_else(|| ControlError::invariant(format!("block {index} of a written snapshot vanished")))?;
                concatenated
                    .extend((0..hash.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hash[i..i + 2], 16).ok()));
            }
            let actual: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&concatenated).into();
            if actual.as_slice() != expected {
                return Err(ControlError::Snapshot(SnapshotError::ChecksumMismatch(id.clone())));
            }
        }
        if let Some(s) = self.snapshots.get_mut(id) {
            s.awaiting_completion = false;
        }
        Ok(())
    }

    /// The non-empty blocks of a completed snapshot, from `start` on, in index order.
    pub fn snapshot_blocks(&self, id: &SnapshotId) -> Result<Vec<SnapshotBlock>, ControlError> {
        let s = self.snapshot(id)?;
        if s.state != SnapshotState::Completed {
            return Err(ControlError::Snapshot(SnapshotError::SnapshotNotCompleted(id.clone())));
        }
        let info = self.store.snapshots().info(&store_name(id.as_str())?).map_err(storage_error)?;
        let per_block = (DIRECT_BLOCK_SIZE / squall_storage::SNAPSHOT_BLOCK_SIZE).max(1);
        Ok(info.blocks.into_iter().map(|(index, hash)| SnapshotBlock { index: index * per_block, hash }).collect())
    }

    /// Whether two snapshots share a lineage (ListChangedBlocks compares only those).
    pub fn same_lineage(&self, a: &SnapshotId, b: &SnapshotId) -> Result<bool, ControlError> {
        let snapshots = self.store.snapshots();
        let (ia, ib) = (
            snapshots.info(&store_name(a.as_str())?).map_err(storage_error)?,
            snapshots.info(&store_name(b.as_str())?).map_err(storage_error)?,
        );
        Ok(ia.lineage == ib.lineage)
    }

    /// ListChangedBlocks: the blocks that differ between `first` (or an empty snapshot) and
    /// `second`, from `from` on, in index order; `None` when the two are of different lineages.
    pub fn changed_blocks(
        &self,
        first: Option<&SnapshotId>,
        second: &SnapshotId,
        from: u64,
    ) -> Result<Option<Vec<ChangedBlock>>, ControlError> {
        let first_blocks = match first {
            Some(f) if !self.same_lineage(f, second)? => return Ok(None),
            Some(f) => self.snapshot_blocks(f)?,
            None => Vec::new(),
        };
        let a: BTreeMap<u64, String> = first_blocks.into_iter().map(|b| (b.index, b.hash)).collect();
        let mut b: BTreeMap<u64, String> =
            self.snapshot_blocks(second)?.into_iter().map(|b| (b.index, b.hash)).collect();
        let mut indices: Vec<u64> =
            a.keys().chain(b.keys()).copied().filter(|i| *i >= from && a.get(i) != b.get(i)).collect();
        indices.sort_unstable();
        indices.dedup();
        Ok(Some(
            indices
                .into_iter()
                .map(|index| ChangedBlock { index, first_hash: a.get(&index).cloned(), second_hash: b.remove(&index) })
                .collect(),
        ))
    }

    /// The bytes of one block of a completed snapshot.
    pub fn snapshot_block(&self, id: &SnapshotId, index: u64) -> Result<Vec<u8>, ControlError> {
        let s = self.snapshot(id)?;
        if s.state != SnapshotState::Completed {
            return Err(ControlError::Snapshot(SnapshotError::SnapshotNotCompleted(id.clone())));
        }
        self.store.snapshots().read_block(&store_name(id.as_str())?, index).map_err(storage_error)
    }
}

impl Region {
    /// StartSnapshot.
    #[allow(clippy::too_many_arguments)]
    pub fn start_snapshot(
        &self,
        volume_size_gib: u32,
        parent: Option<&SnapshotId>,
        description: String,
        tags: BTreeMap<String, String>,
        encrypted: bool,
        kms_key_id: Option<String>,
        now_ms: u64,
    ) -> Result<Snapshot, ControlError> {
        self.with_state(now_ms, |state| {
            state.start_snapshot(volume_size_gib, parent, description, tags, encrypted, kms_key_id, now_ms)
        })
    }

    /// PutSnapshotBlock: the block's SHA-256.
    pub fn put_snapshot_block(
        &self,
        id: &SnapshotId,
        index: u64,
        data: &[u8],
        now_ms: u64,
    ) -> Result<[u8; 32], ControlError> {
        self.with_state(now_ms, |state| state.put_snapshot_block(id, index, data))
    }

    /// CompleteSnapshot.
    pub fn complete_snapshot(
        &self,
        id: &SnapshotId,
        changed_blocks: u64,
        linear_checksum: Option<&[u8]>,
        now_ms: u64,
    ) -> Result<(), ControlError> {
        self.with_state(now_ms, |state| state.complete_snapshot(id, changed_blocks, linear_checksum))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::error::{ControlError, SnapshotError};
    use crate::model::snapshot::DIRECT_BLOCK_SIZE;
    use crate::test_support::TestRegion;
    use crate::SnapshotId;

    fn block(byte: u8) -> Vec<u8> {
        vec![byte; DIRECT_BLOCK_SIZE as usize]
    }

    fn start(t: &TestRegion, parent: Option<&SnapshotId>) -> SnapshotId {
        t.region.start_snapshot(1, parent, String::new(), BTreeMap::new(), false, None, t.now()).unwrap().id
    }

    #[test]
    fn blocks_are_bounded_counted_and_diffed_within_a_lineage() {
        let t = TestRegion::new();
        let parent = start(&t, None);
        // 1 GiB holds 2,048 blocks of 512 KiB.
        let beyond = t.region.put_snapshot_block(&parent, 2048, &block(1), t.now());
        assert_eq!(
            beyond.unwrap_err(),
            ControlError::Snapshot(SnapshotError::BlockIndexOutOfRange { snapshot: parent.clone(), index: 2048 })
        );
        t.region.put_snapshot_block(&parent, 0, &block(1), t.now()).unwrap();
        let miscounted = t.region.complete_snapshot(&parent, 2, None, t.now());
        assert!(matches!(miscounted, Err(ControlError::Snapshot(SnapshotError::ChangedBlocksMismatch { .. }))));
        t.region.complete_snapshot(&parent, 1, None, t.now()).unwrap();
        let late = t.region.put_snapshot_block(&parent, 1, &block(2), t.now());
        assert_eq!(late.unwrap_err(), ControlError::Snapshot(SnapshotError::SnapshotNotPending(parent.clone())));
        t.advance(300);

        let child = start(&t, Some(&parent));
        t.region.put_snapshot_block(&child, 5, &block(3), t.now()).unwrap();
        t.region.complete_snapshot(&child, 1, None, t.now()).unwrap();
        t.advance(300);
        let (from_parent, from_nothing, same) = t
            .region
            .read(t.now(), |s| {
                Ok((
                    s.changed_blocks(Some(&parent), &child, 0)?,
                    s.changed_blocks(None, &child, 0)?,
                    s.same_lineage(&parent, &child)?,
                ))
            })
            .unwrap();
        let from_parent = from_parent.expect("same lineage");
        assert!(same, "the child continues its parent's lineage");
        assert_eq!(from_parent.iter().map(|c| c.index).collect::<Vec<_>>(), [5]);
        assert_eq!(from_parent[0].first_hash, None);
        assert_eq!(from_nothing.expect("no first").iter().map(|c| c.index).collect::<Vec<_>>(), [0, 5]);
        let data = t.region.read(t.now(), |s| s.snapshot_block(&child, 0)).unwrap();
        assert_eq!(data, block(1), "the child holds its parent's blocks");
        let other = start(&t, None);
        t.region.complete_snapshot(&other, 0, None, t.now()).unwrap();
        t.advance(300);
        let apart = t.region.read(t.now(), |s| s.changed_blocks(Some(&other), &child, 0)).unwrap();
        assert_eq!(apart, None, "snapshots of different lineages are not compared");
    }
}
