"""CopyDBSnapshot, the `restore` attribute of DB snapshots, DescribeOrderableDBInstanceOptions and
DescribeEventCategories through boto3, against the squall at argv[1]; psycopg 3 reads the rows of
an instance restored from a copy (port argv[3]) after the source snapshot is gone, and of one
restored in another region from a cross-region copy (port argv[4]).

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

from common import FAST, client, fails, pg_connect

endpoint, port, restored_port, west_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rds = client("rds", endpoint)
fast = FAST


def connect(p):
    return pg_connect(p, "owner", "correct-horse", dbname="shop")


# ---- catalogue -----------------------------------------------------------------------------------
pages = list(rds.get_paginator("describe_orderable_db_instance_options").paginate(Engine="postgres", EngineVersion="16.4"))
options = [o for page in pages for o in page["OrderableDBInstanceOptions"]]
assert len(pages) > 1, len(pages)
classes = {o["DBInstanceClass"] for o in options}
assert {"db.t3.micro", "db.m5.large", "db.r6g.xlarge"} <= classes, sorted(classes)
assert "db.m5.micro" not in classes
micro = [o for o in options if o["DBInstanceClass"] == "db.t3.micro"]
assert {o["StorageType"] for o in micro} == {"gp2", "gp3", "io1", "io2"}, micro
gp3 = next(o for o in micro if o["StorageType"] == "gp3")
assert gp3["MultiAZCapable"] and gp3["ReadReplicaCapable"] and gp3["MinStorageSize"] == 20, gp3
zones = {z["Name"] for z in gp3["AvailabilityZones"]}
assert {"us-east-1a", "us-east-1b", "us-east-1c"} <= zones, zones
one = rds.describe_orderable_db_instance_options(Engine="mysql", DBInstanceClass="db.r5.large")["OrderableDBInstanceOptions"]
assert {o["DBInstanceClass"] for o in one} == {"db.r5.large"} and {o["Engine"] for o in one} == {"mysql"}, one
fails("InvalidParameterValue", rds.describe_orderable_db_instance_options, Engine="db2")

categories = rds.describe_event_categories(SourceType="db-instance")["EventCategoriesMapList"]
assert [m["SourceType"] for m in categories] == ["db-instance"], categories
assert {"failover", "availability", "creation", "read replica"} <= set(categories[0]["EventCategories"])
everything = rds.describe_event_categories()["EventCategoriesMapList"]
assert {"db-instance", "db-snapshot", "db-parameter-group"} <= {m["SourceType"] for m in everything}
fails("InvalidParameterValue", rds.describe_event_categories, SourceType="db-toaster")

# ---- a snapshot with rows in it, copied --------------------------------------------------------
rds.create_db_instance(
    DBInstanceIdentifier="shop",
    Engine="postgres",
    DBInstanceClass="db.t3.micro",
    AllocatedStorage=20,
    MasterUsername="owner",
    MasterUserPassword="correct-horse",
    DBName="shop",
    Port=port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop", WaiterConfig=fast)
with connect(port) as conn:
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    for i in range(50):
        conn.execute("INSERT INTO orders VALUES (%s, %s)", (i, f"item-{i}"))
rds.create_db_snapshot(
    DBInstanceIdentifier="shop", DBSnapshotIdentifier="nightly", Tags=[{"Key": "kind", "Value": "nightly"}]
)
fails("InvalidDBSnapshotState", rds.copy_db_snapshot, SourceDBSnapshotIdentifier="nightly",
      TargetDBSnapshotIdentifier="too-early")
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="nightly", WaiterConfig=fast)
source_arn = rds.describe_db_snapshots(DBSnapshotIdentifier="nightly")["DBSnapshots"][0]["DBSnapshotArn"]

copy = rds.copy_db_snapshot(
    SourceDBSnapshotIdentifier=source_arn,
    TargetDBSnapshotIdentifier="Nightly-Copy",
    CopyTags=True,
    Tags=[{"Key": "copied", "Value": "yes"}],
)["DBSnapshot"]
assert copy["DBSnapshotIdentifier"] == "nightly-copy", copy
assert copy["SnapshotType"] == "manual" and copy["DBInstanceIdentifier"] == "shop", copy
assert copy["Status"] == "creating", copy
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="nightly-copy", WaiterConfig=fast)
tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=copy["DBSnapshotArn"])["TagList"]}
assert tags == {"kind": "nightly", "copied": "yes"}, tags
plain = rds.copy_db_snapshot(SourceDBSnapshotIdentifier="nightly", TargetDBSnapshotIdentifier="plain")["DBSnapshot"]
assert rds.list_tags_for_resource(ResourceName=plain["DBSnapshotArn"])["TagList"] == []
fails("DBSnapshotAlreadyExists", rds.copy_db_snapshot, SourceDBSnapshotIdentifier="nightly",
      TargetDBSnapshotIdentifier="nightly-copy")
fails("DBSnapshotNotFound", rds.copy_db_snapshot, SourceDBSnapshotIdentifier="never",
      TargetDBSnapshotIdentifier="x")
fails("InvalidParameterValue", rds.copy_db_snapshot, SourceDBSnapshotIdentifier="nightly",
      TargetDBSnapshotIdentifier="9-lives")
events = rds.describe_events(SourceType="db-snapshot", SourceIdentifier="nightly-copy")["Events"]
assert any(e["Message"] == "Started copy of snapshot nightly" for e in events), events

# ---- sharing: the restore attribute ------------------------------------------------------------
def restore_values(snapshot):
    result = rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=snapshot)["DBSnapshotAttributesResult"]
    assert result["DBSnapshotIdentifier"] == snapshot, result
    (attribute,) = result["DBSnapshotAttributes"]
    assert attribute["AttributeName"] == "restore", attribute
    return attribute.get("AttributeValues", [])


assert restore_values("nightly-copy") == []
result = rds.modify_db_snapshot_attribute(
    DBSnapshotIdentifier="nightly-copy", AttributeName="restore", ValuesToAdd=["111122223333", "444455556666"]
)["DBSnapshotAttributesResult"]
assert result["DBSnapshotAttributes"][0]["AttributeValues"] == ["111122223333", "444455556666"], result
rds.modify_db_snapshot_attribute(DBSnapshotIdentifier="nightly-copy", AttributeName="restore",
                                 ValuesToRemove=["111122223333"], ValuesToAdd=["all"])
assert restore_values("nightly-copy") == ["444455556666", "all"], restore_values("nightly-copy")
fails("InvalidParameterValue", rds.modify_db_snapshot_attribute, DBSnapshotIdentifier="nightly-copy",
      AttributeName="copy", ValuesToAdd=["111122223333"])
fails("InvalidParameterValue", rds.modify_db_snapshot_attribute, DBSnapshotIdentifier="nightly-copy",
      AttributeName="restore", ValuesToAdd=["12345"])
fails("SharedSnapshotQuotaExceeded", rds.modify_db_snapshot_attribute, DBSnapshotIdentifier="nightly-copy",
      AttributeName="restore", ValuesToAdd=[f"{100000000000 + i}" for i in range(20)])
assert restore_values("nightly-copy") == ["444455556666", "all"]
fails("DBSnapshotNotFound", rds.describe_db_snapshot_attributes, DBSnapshotIdentifier="never")

# ---- a copy into another region: its bytes go with it --------------------------------------------
west = client("rds", endpoint, region="us-west-2")
fails("DBSnapshotNotFound", west.copy_db_snapshot, SourceDBSnapshotIdentifier=source_arn.replace("nightly", "never"),
      TargetDBSnapshotIdentifier="x", SourceRegion="us-east-1")
# boto3 turns SourceRegion into the PreSignedUrl RDS asks a cross-region copy for.
far = west.copy_db_snapshot(SourceDBSnapshotIdentifier=source_arn, TargetDBSnapshotIdentifier="nightly-west",
                            SourceRegion="us-east-1")["DBSnapshot"]
assert far["SourceRegion"] == "us-east-1" and far["SourceDBSnapshotIdentifier"] == source_arn, far
assert far["DBSnapshotArn"].startswith("arn:aws:rds:us-west-2:"), far
assert far["AvailabilityZone"].startswith("us-west-2"), far
west.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="nightly-west", WaiterConfig=fast)
fails("DBSnapshotNotFound", rds.describe_db_snapshots, DBSnapshotIdentifier="nightly-west")
west.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="shop-west", DBSnapshotIdentifier="nightly-west",
                                          Port=west_port)
west.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-west", WaiterConfig=fast)
(restored_west,) = west.describe_db_instances(DBInstanceIdentifier="shop-west")["DBInstances"]
assert restored_west["AvailabilityZone"].startswith("us-west-2"), restored_west
with connect(west_port) as conn:
    rows = conn.execute("SELECT count(*), min(item), max(id) FROM orders").fetchone()
assert rows == (50, "item-0", 49), rows
west.delete_db_instance(DBInstanceIdentifier="shop-west", SkipFinalSnapshot=True)

# ---- the copy holds the bytes on its own -------------------------------------------------------
rds.delete_db_snapshot(DBSnapshotIdentifier="nightly")
rds.restore_db_instance_from_db_snapshot(
    DBInstanceIdentifier="shop-restored", DBSnapshotIdentifier="nightly-copy", Port=restored_port
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-restored", WaiterConfig=fast)
with connect(restored_port) as conn:
    rows = conn.execute("SELECT count(*), min(item), max(id) FROM orders").fetchone()
assert rows == (50, "item-0", 49), rows

for instance in ("shop", "shop-restored"):
    rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
print("boto3 rds snapshot copies: ok")
