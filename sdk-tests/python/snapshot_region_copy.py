"""CopySnapshot from another region through boto3 against the squall at argv[1]: a snapshot
written in us-east-1 with the EBS direct APIs is copied by us-west-2's EC2 (SourceRegion), and
us-west-2's EBS direct APIs read back the same bytes, which a volume made from the copy holds too.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import base64
import hashlib
import sys
import time

from common import client, fails

endpoint = sys.argv[1]
east_ebs = client("ebs", endpoint, region="us-east-1")
east = client("ec2", endpoint, region="us-east-1")
west = client("ec2", endpoint, region="us-west-2")
west_ebs = client("ebs", endpoint, region="us-west-2")
BLOCK = 512 * 1024

data = bytes((i * 7) % 251 for i in range(BLOCK))
started = east_ebs.start_snapshot(VolumeSize=1, Description="written directly")
snap = started["SnapshotId"]
east_ebs.put_snapshot_block(SnapshotId=snap, BlockIndex=3, BlockData=data, DataLength=BLOCK,
                            Checksum=base64.b64encode(hashlib.sha256(data).digest()).decode(),
                            ChecksumAlgorithm="SHA256")
east_ebs.complete_snapshot(SnapshotId=snap, ChangedBlocksCount=1)
for _ in range(100):
    if east.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]["State"] == "completed":
        break
    time.sleep(0.05)

fails("InvalidSnapshot.NotFound", west.copy_snapshot, SourceRegion="us-east-1",
      SourceSnapshotId="snap-0123456789abcdef0")
fails("InvalidParameterValue", west.copy_snapshot, SourceRegion="mars-east-1", SourceSnapshotId=snap)
copy = west.copy_snapshot(SourceRegion="us-east-1", SourceSnapshotId=snap)["SnapshotId"]
assert copy != snap
west.get_waiter("snapshot_completed").wait(SnapshotIds=[copy], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
(shown,) = west.describe_snapshots(SnapshotIds=[copy])["Snapshots"]
assert shown["Description"] == f"[Copied {snap} from us-east-1]" and shown["VolumeSize"] == 1, shown
fails("InvalidSnapshot.NotFound", east.describe_snapshots, SnapshotIds=[copy])

blocks = west_ebs.list_snapshot_blocks(SnapshotId=copy)["Blocks"]
assert [b["BlockIndex"] for b in blocks] == [3], blocks
got = west_ebs.get_snapshot_block(SnapshotId=copy, BlockIndex=3, BlockToken=blocks[0]["BlockToken"])
assert got["BlockData"].read() == data, "the copy holds the source's bytes"

# The source can go; the copy stays whole.
east.delete_snapshot(SnapshotId=snap)
got = west_ebs.get_snapshot_block(SnapshotId=copy, BlockIndex=3, BlockToken=blocks[0]["BlockToken"])
assert got["BlockData"].read() == data

# Archive tiers on the copy.
def tier_status():
    (st,) = west.describe_snapshot_tier_status(Filters=[{"Name": "snapshot-id", "Values": [copy]}])[
        "SnapshotTierStatuses"]
    return st


def settle(want):
    for _ in range(100):
        st = tier_status()
        if st.get("LastTieringOperationStatus") == want:
            return st
        time.sleep(0.05)
    raise AssertionError(f"never {want}: {tier_status()}")


fails("IncorrectState", west.restore_snapshot_tier, SnapshotId=copy, PermanentRestore=True)
started = west.modify_snapshot_tier(SnapshotId=copy, StorageTier="archive")
assert started["SnapshotId"] == copy and started["TieringStartTime"], started
fails("IncorrectState", west.modify_snapshot_tier, SnapshotId=copy, StorageTier="archive")
st = settle("archival-completed")
assert st["StorageTier"] == "archive" and st["ArchivalCompleteTime"], st
assert west.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]["StorageTier"] == "archive"
fails("IncorrectState", west.create_volume, AvailabilityZone="us-west-2a", SnapshotId=copy)
fails("InvalidParameterCombination", west.restore_snapshot_tier, SnapshotId=copy, TemporaryRestoreDays=2,
      PermanentRestore=True)
fails("InvalidParameterValue", west.restore_snapshot_tier, SnapshotId=copy, TemporaryRestoreDays=0)
restored = west.restore_snapshot_tier(SnapshotId=copy, TemporaryRestoreDays=2)
assert restored["RestoreDuration"] == 2 and restored["IsPermanentRestore"] is False, restored
st = settle("temporary-restore-completed")
assert st["StorageTier"] == "standard" and st["RestoreExpiryTime"], st
shown = west.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]
assert shown["StorageTier"] == "standard" and shown["RestoreExpiryTime"], shown
vol = west.create_volume(AvailabilityZone="us-west-2a", SnapshotId=copy)["VolumeId"]
west.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
print("boto3 snapshot region copy: ok")
