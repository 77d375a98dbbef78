"""The EBS volume lifecycle through boto3 (PyPI), against the squall at argv[1].

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

import boto3
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
ec2 = boto3.client(
    "ec2",
    endpoint_url=endpoint,
    region_name="us-west-2",
    aws_access_key_id="test",
    aws_secret_access_key="test",
)

zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
assert zones == ["us-west-2a", "us-west-2b", "us-west-2c", "us-west-2d"], zones

vol = ec2.create_volume(
    AvailabilityZone="us-west-2c",
    Size=16,
    VolumeType="io2",
    Iops=2000,
    TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "app", "Value": "db"}]}],
)
vol_id = vol["VolumeId"]
assert vol["State"] == "creating" and vol["Iops"] == 2000 and vol["AvailabilityZoneId"] == "usw2-az3", vol
ec2.get_waiter("volume_available").wait(VolumeIds=[vol_id], WaiterConfig={"Delay": 1})
described = ec2.describe_volumes(Filters=[{"Name": "tag:app", "Values": ["db"]}])["Volumes"]
assert [v["VolumeId"] for v in described] == [vol_id], described
assert described[0]["State"] == "available" and described[0]["Tags"] == [{"Key": "app", "Value": "db"}]

snap = ec2.create_snapshot(VolumeId=vol_id, Description="nightly")
ec2.get_waiter("snapshot_completed").wait(SnapshotIds=[snap["SnapshotId"]], WaiterConfig={"Delay": 1})
restored = ec2.create_volume(AvailabilityZone="us-west-2a", SnapshotId=snap["SnapshotId"])
assert restored["Size"] == 16 and restored["SnapshotId"] == snap["SnapshotId"], restored

paginator = ec2.get_paginator("describe_volumes")
ids = [v["VolumeId"] for page in paginator.paginate(PaginationConfig={"PageSize": 5}) for v in page["Volumes"]]
assert sorted(ids) == sorted([vol_id, restored["VolumeId"]]), ids

try:
    ec2.delete_volume(VolumeId="vol-0123456789abcdef0")
    raise AssertionError("deleting a missing volume must fail")
except ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidVolume.NotFound", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400

try:
    ec2.create_volume(AvailabilityZone="us-west-2a", Size=1, DryRun=True)
    raise AssertionError("a dry run must fail")
except ClientError as e:
    assert e.response["Error"]["Code"] == "DryRunOperation", e.response
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 412

ec2.delete_volume(VolumeId=vol_id)
ec2.get_waiter("volume_deleted").wait(VolumeIds=[vol_id], WaiterConfig={"Delay": 1})
print("boto3 volume lifecycle: ok")
