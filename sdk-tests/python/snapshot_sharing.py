"""Snapshots between two accounts (access keys of twelve digits) of the squall at argv[1]: a
snapshot is its owner's until createVolumePermission shares it; the other account neither sees
nor uses it before, and sees and makes volumes from it after; only the owner changes or deletes
it; public sharing and malformed account ids are refused as EC2 refuses them.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

from common import client, fails

alice = client("ec2", sys.argv[1], access_key="111111111111")
bob = client("ec2", sys.argv[1], access_key="222222222222")

volume = alice.create_volume(AvailabilityZone="us-east-1a", Size=2)["VolumeId"]
snap = alice.create_snapshot(VolumeId=volume, Description="alice's")
sid = snap["SnapshotId"]
assert snap["OwnerId"] == "111111111111", snap
alice.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig={"Delay": 1})

# Not shared: bob neither sees it nor uses it.
fails("InvalidSnapshot.NotFound", bob.describe_snapshots, SnapshotIds=[sid])
assert sid not in [s["SnapshotId"] for s in bob.describe_snapshots()["Snapshots"]]
fails("InvalidSnapshot.NotFound", bob.create_volume, AvailabilityZone="us-east-1a", SnapshotId=sid)
fails("InvalidSnapshot.NotFound", bob.copy_snapshot, SourceSnapshotId=sid, SourceRegion="us-east-1")
fails("InvalidSnapshot.NotFound", bob.modify_snapshot_attribute, SnapshotId=sid, Attribute="createVolumePermission",
      OperationType="add", UserIds=["222222222222"])
assert [s["SnapshotId"] for s in alice.describe_snapshots(OwnerIds=["self"])["Snapshots"]] == [sid]

# Shared with bob: he sees it (owned by alice), restorable by him, and makes a volume of it.
fails("InvalidParameterValue", alice.modify_snapshot_attribute, SnapshotId=sid, Attribute="createVolumePermission",
      OperationType="add", UserIds=["bob"])
alice.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission", OperationType="add",
                                UserIds=["222222222222"])
perms = alice.describe_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
assert perms["CreateVolumePermissions"] == [{"UserId": "222222222222"}], perms
(seen,) = bob.describe_snapshots(SnapshotIds=[sid])["Snapshots"]
assert seen["OwnerId"] == "111111111111", seen
assert [s["SnapshotId"] for s in bob.describe_snapshots(RestorableByUserIds=["self"])["Snapshots"]] == [sid]
assert bob.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
assert [s["SnapshotId"] for s in bob.describe_snapshots(OwnerIds=["111111111111"])["Snapshots"]] == [sid]
made = bob.create_volume(AvailabilityZone="us-east-1b", SnapshotId=sid)
assert made["SnapshotId"] == sid and made["Size"] == 2, made
copy = bob.copy_snapshot(SourceSnapshotId=sid, SourceRegion="us-east-1", Description="bob's copy")["SnapshotId"]
assert bob.describe_snapshots(SnapshotIds=[copy])["Snapshots"][0]["OwnerId"] == "222222222222"
fails("InvalidSnapshot.NotFound", alice.describe_snapshots, SnapshotIds=[copy])

# Only the owner changes or deletes it.
fails("UnauthorizedOperation", bob.delete_snapshot, SnapshotId=sid)
fails("UnauthorizedOperation", bob.modify_snapshot_attribute, SnapshotId=sid, Attribute="createVolumePermission",
      OperationType="add", GroupNames=["all"])

# Removing bob again hides it; public sharing lets every account use it.
alice.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission", OperationType="remove",
                                UserIds=["222222222222"])
fails("InvalidSnapshot.NotFound", bob.create_volume, AvailabilityZone="us-east-1a", SnapshotId=sid)
alice.modify_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission", OperationType="add",
                                GroupNames=["all"])
assert bob.create_volume(AvailabilityZone="us-east-1a", SnapshotId=sid)["SnapshotId"] == sid
alice.reset_snapshot_attribute(SnapshotId=sid, Attribute="createVolumePermission")
fails("InvalidSnapshot.NotFound", bob.describe_snapshots, SnapshotIds=[sid])

# An encrypted snapshot is never public.
enc_volume = alice.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True)["VolumeId"]
enc = alice.create_snapshot(VolumeId=enc_volume)["SnapshotId"]
fails("OperationNotPermitted", alice.modify_snapshot_attribute, SnapshotId=enc, Attribute="createVolumePermission",
      OperationType="add", GroupNames=["all"])

print("boto3 snapshot sharing: ok")
