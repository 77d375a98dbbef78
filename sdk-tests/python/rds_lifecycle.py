"""RDS DB instances through boto3 (PyPI), against the squall at argv[1]: a DB subnet group over two
zones of a new VPC, a Multi-AZ PostgreSQL instance with boto3's waiters, a forced failover that
swaps the zones (and its events), stop/start, tags by ARN, AWS's error codes for bad input, and
deletion.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import json
import sys
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
session = dict(
    endpoint_url=endpoint,
    region_name="eu-west-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
ec2 = boto3.client("ec2", **session)
rds = boto3.client("rds", **session)
fast = {"Delay": 1, "MaxAttempts": 60}


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded: {kwargs}")


vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24", AvailabilityZone="eu-west-1a")["Subnet"]["SubnetId"]
b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.2.0/24", AvailabilityZone="eu-west-1b")["Subnet"]["SubnetId"]

# A group must cover two zones.
code = error_code(
    rds.create_db_subnet_group, DBSubnetGroupName="one-zone", DBSubnetGroupDescription="x", SubnetIds=[a]
)
assert code == "DBSubnetGroupDoesNotCoverEnoughAZs", code
group = rds.create_db_subnet_group(
    DBSubnetGroupName="App-DB", DBSubnetGroupDescription="app databases", SubnetIds=[a, b]
)["DBSubnetGroup"]
assert group["DBSubnetGroupName"] == "app-db" and group["VpcId"] == vpc, group
assert {s["SubnetAvailabilityZone"]["Name"] for s in group["Subnets"]} == {"eu-west-1a", "eu-west-1b"}, group
assert group["DBSubnetGroupArn"] == "arn:aws:rds:eu-west-1:000000000000:subgrp:app-db", group
code = error_code(rds.describe_db_subnet_groups, DBSubnetGroupName="nope")
assert code == "DBSubnetGroupNotFoundFault", code

base = dict(
    DBInstanceClass="db.t3.micro",
    Engine="postgres",
    AllocatedStorage=20,
    MasterUsername="app",
    MasterUserPassword="s3cret-pass",
    DBSubnetGroupName="app-db",
)
# AWS's answers to bad input.
for bad, expected in [
    (dict(DBInstanceIdentifier="1st"), "InvalidParameterValue"),
    (dict(DBInstanceIdentifier="a--b"), "InvalidParameterValue"),
    (dict(DBInstanceIdentifier="ok", MasterUserPassword="short"), "InvalidParameterValue"),
    (dict(DBInstanceIdentifier="ok", AllocatedStorage=5), "InvalidParameterValue"),
    (dict(DBInstanceIdentifier="ok", Engine="cobol-db"), "InvalidParameterValue"),
    (dict(DBInstanceIdentifier="ok", DBInstanceClass="db.x9.huge"), "InvalidParameterCombination"),
    (dict(DBInstanceIdentifier="ok", MultiAZ=True, AvailabilityZone="eu-west-1a"), "InvalidParameterCombination"),
    (dict(DBInstanceIdentifier="ok", DBSubnetGroupName="missing"), "DBSubnetGroupNotFoundFault"),
    (dict(DBInstanceIdentifier="ok", PreferredMaintenanceWindow="mon:03:00-mon:03:10"), "InvalidParameterValue"),
]:
    code = error_code(rds.create_db_instance, **{**base, **bad})
    assert code == expected, (bad, code)

made = rds.create_db_instance(DBInstanceIdentifier="Orders", MultiAZ=True, DBName="orders", **base)["DBInstance"]
assert made["DBInstanceIdentifier"] == "orders" and made["DBInstanceStatus"] == "creating", made
code = error_code(rds.create_db_instance, DBInstanceIdentifier="orders", **base)
assert code == "DBInstanceAlreadyExists", code

rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=fast)
db = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
primary, standby = db["AvailabilityZone"], db["SecondaryAvailabilityZone"]
assert {primary, standby} == {"eu-west-1a", "eu-west-1b"}, db
# Without a Port, the instance's SQL endpoint gets the lowest free port of --rds-ports (4510-4559).
assert db["MultiAZ"] and db["Endpoint"]["Port"] == 4510 and db["Endpoint"]["Address"] == "localhost", db
assert db["DBInstanceArn"] == "arn:aws:rds:eu-west-1:000000000000:db:orders", db
assert db["DbiResourceId"].startswith("db-") and len(db["DbiResourceId"]) == 29, db
assert db["DBParameterGroups"][0]["DBParameterGroupName"].startswith("default.postgres"), db

# Forced failover: the standby's zone becomes the primary's; events say so, in order.
rebooting = rds.reboot_db_instance(DBInstanceIdentifier="orders", ForceFailover=True)["DBInstance"]
assert rebooting["DBInstanceStatus"] == "rebooting", rebooting
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=fast)
db = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
assert (db["AvailabilityZone"], db["SecondaryAvailabilityZone"]) == (standby, primary), db
assert db["Endpoint"]["Port"] == 4510, db
events = rds.describe_events(SourceType="db-instance", SourceIdentifier="orders")["Events"]
messages = [e["Message"] for e in events]
assert messages[0] == "DB instance created", messages
started = messages.index("Multi-AZ instance failover started.")
assert messages.index("Multi-AZ instance failover completed") > started, messages
assert all(e["SourceArn"] == db["DBInstanceArn"] for e in events), events

# An outage of the primary's zone (squall's fault API): RDS fails over by itself after its
# detection time, to the standby's zone.
def fault_api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def db_figures(zone):
    zones = fault_api("GET", "/_squall/status")["regions"]["eu-west-1"]
    return next(z["dbInstances"] for z in zones if z["name"] == zone)


now_primary = db["AvailabilityZone"]
# The forced failover above counts where the primary is now.
expected = {"primaries": 1, "standbys": 0, "stuck": 0, "failovers": 1, "failoversRefused": 0}
assert db_figures(now_primary) == expected, db_figures(now_primary)
fault = fault_api("POST", "/_squall/faults", {"kind": "az-outage", "zone": now_primary, "region": "eu-west-1"})
# The status shows the primary's storage stuck until RDS fails over.
deadline = time.time() + 5
while time.time() < deadline and db_figures(now_primary)["stuck"] == 0:
    time.sleep(0.05)
assert db_figures(now_primary)["stuck"] == 1, db_figures(now_primary)
deadline = time.time() + 30
while time.time() < deadline:
    db = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
    if db["DBInstanceStatus"] == "available" and db["AvailabilityZone"] != now_primary:
        break
    time.sleep(0.2)
assert db["AvailabilityZone"] != now_primary and db["DBInstanceStatus"] == "available", db
assert db["SecondaryAvailabilityZone"] == now_primary, db
messages = [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="orders")["Events"]]
cause = next(i for i, m in enumerate(messages) if m.startswith(f"The primary's storage in {now_primary} has not answered"))
# After the cause, the failover starts and completes (other events, such as the storage answering
# again from the new primary, may come in between or after, at the storage tick's pace).
assert messages.index("Multi-AZ instance failover started.", cause) < messages.index(
    "Multi-AZ instance failover completed", cause
), messages
expected = {"primaries": 0, "standbys": 1, "stuck": 0, "failovers": 0, "failoversRefused": 0}
assert db_figures(now_primary) == expected, db_figures(now_primary)
new_primary = db_figures(db["AvailabilityZone"])
assert (new_primary["primaries"], new_primary["failovers"]) == (1, 2), new_primary
with urllib.request.urlopen(endpoint + "/metrics") as r:
    metrics = r.read().decode()
assert f'squall_db_instances{{region="eu-west-1",zone="{now_primary}",role="standby"}} 1' in metrics, metrics
assert f'squall_db_failovers{{region="eu-west-1",zone="{db["AvailabilityZone"]}"}} 2' in metrics, metrics
fault_api("DELETE", "/_squall/faults/" + fault["id"])

# A single-AZ instance cannot fail over.
rds.create_db_instance(DBInstanceIdentifier="cache", AvailabilityZone="eu-west-1b", **base)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="cache", WaiterConfig=fast)
single = rds.describe_db_instances(DBInstanceIdentifier="cache")["DBInstances"][0]
assert single["AvailabilityZone"] == "eu-west-1b" and "SecondaryAvailabilityZone" not in single, single
code = error_code(rds.reboot_db_instance, DBInstanceIdentifier="cache", ForceFailover=True)
assert code == "InvalidParameterCombination", code

# Stop and start.
assert rds.stop_db_instance(DBInstanceIdentifier="cache")["DBInstance"]["DBInstanceStatus"] == "stopping"
for _ in range(60):
    status = rds.describe_db_instances(DBInstanceIdentifier="cache")["DBInstances"][0]["DBInstanceStatus"]
    if status == "stopped":
        break
    time.sleep(0.2)
assert status == "stopped", status
code = error_code(rds.reboot_db_instance, DBInstanceIdentifier="cache")
assert code == "InvalidDBInstanceState", code
rds.start_db_instance(DBInstanceIdentifier="cache")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="cache", WaiterConfig=fast)

# ModifyDBInstance: applied now with ApplyImmediately (a class, a standby seeded from the
# primary), else pending until the maintenance window.
modified = rds.modify_db_instance(
    DBInstanceIdentifier="cache",
    DBInstanceClass="db.t3.small",
    MultiAZ=True,
    BackupRetentionPeriod=5,
    ApplyImmediately=True,
)["DBInstance"]
assert modified["DBInstanceStatus"] == "modifying" and modified["DBInstanceClass"] == "db.t3.small", modified
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="cache", WaiterConfig=fast)
cache = rds.describe_db_instances(DBInstanceIdentifier="cache")["DBInstances"][0]
assert cache["MultiAZ"] and cache["SecondaryAvailabilityZone"] == "eu-west-1a", cache
assert cache["BackupRetentionPeriod"] == 5, cache
later = rds.modify_db_instance(DBInstanceIdentifier="cache", DBInstanceClass="db.t3.medium")["DBInstance"]
assert later["DBInstanceStatus"] == "available" and later["DBInstanceClass"] == "db.t3.small", later
assert later["PendingModifiedValues"] == {"DBInstanceClass": "db.t3.medium"}, later["PendingModifiedValues"]
code = error_code(rds.modify_db_instance, DBInstanceIdentifier="cache", AllocatedStorage=10, ApplyImmediately=True)
assert code == "InvalidParameterValue", code

# Tags by ARN.
arn = db["DBInstanceArn"]
rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "team", "Value": "payments"}, {"Key": "tier", "Value": "1"}])
rds.remove_tags_from_resource(ResourceName=arn, TagKeys=["tier"])
tags = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
assert tags == [{"Key": "team", "Value": "payments"}], tags
code = error_code(rds.list_tags_for_resource, ResourceName="arn:aws:rds:eu-west-1:000000000000:db:ghost")
assert code == "DBInstanceNotFound", code

# Filters and paging.
code = error_code(rds.describe_db_instances, Filters=[{"Name": "colour", "Values": ["red"]}])
assert code == "InvalidParameterValue", code
by_engine = rds.describe_db_instances(Filters=[{"Name": "engine", "Values": ["postgres"]}])["DBInstances"]
assert [d["DBInstanceIdentifier"] for d in by_engine] == ["cache", "orders"], by_engine
by_arn = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [arn]}])["DBInstances"]
assert [d["DBInstanceIdentifier"] for d in by_arn] == ["orders"], by_arn
versions = rds.describe_db_engine_versions(Engine="postgres", DefaultOnly=True)["DBEngineVersions"]
assert len(versions) == 1 and versions[0]["DBParameterGroupFamily"].startswith("postgres"), versions

# Snapshots: taken, waited for, restored into a new instance in the other zone, deleted.
snap = rds.create_db_snapshot(DBSnapshotIdentifier="Orders-Snap", DBInstanceIdentifier="orders")["DBSnapshot"]
assert snap["DBSnapshotIdentifier"] == "orders-snap" and snap["Status"] == "creating", snap
assert snap["SnapshotType"] == "manual" and snap["Engine"] == "postgres" and snap["AllocatedStorage"] == 20, snap
code = error_code(rds.create_db_snapshot, DBSnapshotIdentifier="orders-snap", DBInstanceIdentifier="orders")
assert code == "DBSnapshotAlreadyExists", code
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="orders-snap", WaiterConfig=fast)
# Without SnapshotType both kinds come back: the automated backup taken at creation too.
everything = rds.describe_db_snapshots(DBInstanceIdentifier="orders")["DBSnapshots"]
assert sorted(x["SnapshotType"] for x in everything) == ["automated", "manual"], everything
listed = rds.describe_db_snapshots(DBInstanceIdentifier="orders", SnapshotType="manual")["DBSnapshots"]
assert [x["DBSnapshotIdentifier"] for x in listed] == ["orders-snap"], listed
assert listed[0]["DBSnapshotArn"] == "arn:aws:rds:eu-west-1:000000000000:snapshot:orders-snap", listed
other_zone = db["SecondaryAvailabilityZone"]
restored = rds.restore_db_instance_from_db_snapshot(
    DBInstanceIdentifier="orders-copy",
    DBSnapshotIdentifier="orders-snap",
    DBInstanceClass="db.m6g.large",
    AvailabilityZone=other_zone,
    DBSubnetGroupName="app-db",
)["DBInstance"]
assert restored["DBInstanceStatus"] == "creating" and restored["AvailabilityZone"] == other_zone, restored
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders-copy", WaiterConfig=fast)
copy = rds.describe_db_instances(DBInstanceIdentifier="orders-copy")["DBInstances"][0]
assert (copy["DBInstanceClass"], copy["Engine"], copy["MasterUsername"]) == ("db.m6g.large", "postgres", "app"), copy
assert copy["DBName"] == "orders" and not copy["MultiAZ"], copy
events = rds.describe_events(SourceType="db-snapshot", SourceIdentifier="orders-snap")["Events"]
assert [e["Message"] for e in events] == ["Creating manual snapshot", "Manual snapshot created"], events
code = error_code(rds.restore_db_instance_from_db_snapshot, DBInstanceIdentifier="x", DBSnapshotIdentifier="ghost")
assert code == "DBSnapshotNotFound", code
assert rds.delete_db_snapshot(DBSnapshotIdentifier="orders-snap")["DBSnapshot"]["Status"] == "deleted"
code = error_code(rds.describe_db_snapshots, DBSnapshotIdentifier="orders-snap")
assert code == "DBSnapshotNotFound", code

# Deletion: the group is in use until the instances are gone.
code = error_code(rds.delete_db_subnet_group, DBSubnetGroupName="app-db")
assert code == "InvalidDBSubnetGroupStateFault", code
code = error_code(rds.delete_db_instance, DBInstanceIdentifier="orders")
assert code == "InvalidParameterCombination", code
# A final snapshot outlives its instance.
gone = rds.delete_db_instance(DBInstanceIdentifier="cache", FinalDBSnapshotIdentifier="cache-final")["DBInstance"]
assert gone["DBInstanceStatus"] == "deleting", gone
for name in ["orders", "orders-copy"]:
    gone = rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)["DBInstance"]
    assert gone["DBInstanceStatus"] == "deleting", gone
for name in ["orders", "orders-copy", "cache"]:
    rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=name, WaiterConfig=fast)
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="cache-final", WaiterConfig=fast)
final = rds.describe_db_snapshots(DBSnapshotIdentifier="cache-final")["DBSnapshots"][0]
assert final["DBInstanceIdentifier"] == "cache" and final["SnapshotType"] == "manual", final
rds.delete_db_snapshot(DBSnapshotIdentifier="cache-final")
code = error_code(rds.describe_db_instances, DBInstanceIdentifier="orders")
assert code == "DBInstanceNotFound", code
rds.delete_db_subnet_group(DBSubnetGroupName="app-db")
code = error_code(rds.describe_db_subnet_groups, DBSubnetGroupName="app-db")
assert code == "DBSubnetGroupNotFoundFault", code
deleted = [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="orders")["Events"]]
assert deleted[-1] == "DB instance deleted", deleted

print("boto3 rds lifecycle: ok")
