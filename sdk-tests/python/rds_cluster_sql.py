"""The SQL endpoints of DB clusters, through boto3 and psycopg 3, against the squall at argv[1]
(the Aurora cluster's port argv[2], the restored clusters' argv[3] and argv[4], a Multi-AZ DB
cluster's argv[5]; squall's --rds-ports hold one port, the reader endpoint's): the writer endpoint
serves PostgreSQL on the cluster volume (six copies in three zones) with the values of its DB
cluster parameter group; the reader endpoint (the port the readers' DescribeDBInstances endpoints
show) serves read-only sessions on the same database; a point-in-time restore gives the state
before later commits; when the writer's zone goes out the cluster fails over by itself and no
acknowledged commit is lost, and writes go on with four copies; when one more zone loses a copy
the cluster volume has no write quorum, a write waits (reads that do not queue behind it go on),
and it completes once the copies come back; a snapshot restores; a Multi-AZ DB cluster of the
postgres engine serves SQL too.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import datetime
import sys
import threading
import time

from common import FAST, client, fault_api, pg_connect

endpoint = sys.argv[1]
port, restored_port, pitr_port, maz_port = (int(p) for p in sys.argv[2:6])
rds = client("rds", endpoint)

rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="ledger-params",
                                     DBParameterGroupFamily="aurora-postgresql16", Description="ledger")
rds.modify_db_cluster_parameter_group(
    DBClusterParameterGroupName="ledger-params",
    Parameters=[{"ParameterName": "statement_timeout", "ParameterValue": "4000", "ApplyMethod": "immediate"}])
cluster = rds.create_db_cluster(DBClusterIdentifier="ledger", Engine="aurora-postgresql", Port=port,
                                DBClusterParameterGroupName="ledger-params",
                                MasterUsername="app", MasterUserPassword="s3cret-pass")["DBCluster"]
assert cluster["DBClusterParameterGroup"] == "ledger-params", cluster
zones = cluster["AvailabilityZones"]
for name, zone, tier in (("ledger-a", zones[0], 0), ("ledger-b", zones[1], 1), ("ledger-c", zones[2], 2)):
    rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier="ledger", Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large", AvailabilityZone=zone, PromotionTier=tier)
for name in ("ledger-a", "ledger-b", "ledger-c"):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name, WaiterConfig=FAST)
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="ledger", WaiterConfig=FAST)


def writer():
    c = rds.describe_db_clusters(DBClusterIdentifier="ledger")["DBClusters"][0]
    return c["Status"], next(m["DBInstanceIdentifier"] for m in c["DBClusterMembers"] if m["IsClusterWriter"])


assert writer() == ("available", "ledger-a"), writer()

# Acknowledged commits through the writer endpoint, which runs with the cluster parameter group's
# values (a dynamic one changed with `immediate` reaches open sessions).
conn = pg_connect(port, "app", "s3cret-pass")
assert conn.execute("SHOW statement_timeout").fetchone()[0] == "4000"
rds.modify_db_cluster_parameter_group(
    DBClusterParameterGroupName="ledger-params",
    Parameters=[{"ParameterName": "statement_timeout", "ParameterValue": "6000", "ApplyMethod": "immediate"}])
for _ in range(100):
    if conn.execute("SHOW statement_timeout").fetchone()[0] == "6000":
        break
    time.sleep(0.05)
assert conn.execute("SHOW statement_timeout").fetchone()[0] == "6000"
conn.execute("CREATE TABLE entries (n integer PRIMARY KEY, note text)")
for n in range(100):
    conn.execute("INSERT INTO entries VALUES (%s, %s)", (n, f"entry {n}"))

# The reader endpoint: the port a reader's endpoint shows; it reads what the writer committed and
# refuses to write, as an Aurora replica does.
reader = rds.describe_db_instances(DBInstanceIdentifier="ledger-b")["DBInstances"][0]["Endpoint"]
writer_instance = rds.describe_db_instances(DBInstanceIdentifier="ledger-a")["DBInstances"][0]["Endpoint"]
assert writer_instance["Port"] == port and reader["Port"] != port, (writer_instance, reader)
ro = pg_connect(reader["Port"], "app", "s3cret-pass")
assert ro.execute("SELECT count(*) FROM entries").fetchone() == (100,)
assert ro.execute("SHOW transaction_read_only").fetchone() == ("on",)
try:
    ro.execute("INSERT INTO entries VALUES (500, 'from a reader')")
    raise AssertionError("the reader endpoint took a write")
except Exception as e:  # noqa: BLE001 - checked below
    assert getattr(e, "sqlstate", None) == "25006", repr(e)
conn.execute("INSERT INTO entries VALUES (100, 'seen by the reader')")
assert ro.execute("SELECT note FROM entries WHERE n = 100").fetchone() == ("seen by the reader",)
conn.execute("DELETE FROM entries WHERE n = 100")
ro.close()

# Point-in-time restore: the cluster's log backups (taken while it writes) give the state at a
# time before later commits; a new cluster serves it.
time.sleep(2)
before = datetime.datetime.now(datetime.timezone.utc)
time.sleep(0.3)
conn.execute("INSERT INTO entries VALUES (5000, 'after the restore time')")
conn.close()
pitr = rds.restore_db_cluster_to_point_in_time(DBClusterIdentifier="ledger-then", SourceDBClusterIdentifier="ledger",
                                               RestoreToTime=before, Port=pitr_port)["DBCluster"]
assert pitr["Status"] == "creating" and pitr["Engine"] == "aurora-postgresql", pitr
rds.create_db_instance(DBInstanceIdentifier="ledger-then-1", DBClusterIdentifier="ledger-then",
                       Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger-then-1", WaiterConfig=FAST)
then = pg_connect(pitr_port, "app", "s3cret-pass")
assert then.execute("SELECT count(*), max(n) FROM entries").fetchone() == (100, 99)
then.close()
with pg_connect(port, "app", "s3cret-pass") as conn:
    conn.execute("DELETE FROM entries WHERE n = 5000")

# The writer's zone goes out: automatic failover to ledger-b, nothing acknowledged is lost, and
# the cluster volume takes writes with the four copies left.
status, _ = fault_api(endpoint, "POST", "/_squall/faults", {"kind": "az-outage", "region": "us-east-1", "zone": zones[0]})
assert status == 201
for _ in range(100):
    if writer() == ("available", "ledger-b"):
        break
    time.sleep(0.1)
assert writer() == ("available", "ledger-b"), writer()
conn = pg_connect(port, "app", "s3cret-pass")
assert conn.execute("SELECT count(*), sum(n) FROM entries").fetchone() == (100, sum(range(100)))
for n in range(100, 120):
    conn.execute("INSERT INTO entries VALUES (%s, %s)", (n, f"entry {n}"))
assert conn.execute("SELECT count(*) FROM entries").fetchone() == (120,)

# One more zone loses copies (three of its four nodes): no write quorum. A read goes on; a write
# waits, and completes once the storage is back, with everything acknowledged before it.
status, _ = fault_api(endpoint, "POST", "/_squall/faults",
                      {"kind": "node-crash", "region": "us-east-1", "zone": zones[1], "nodes": [0, 1, 2]})
assert status == 201
assert conn.execute("SELECT count(*) FROM entries").fetchone() == (120,)
finished = {}


def write():
    try:
        c = pg_connect(port, "app", "s3cret-pass")
        c.execute("INSERT INTO entries VALUES (999, 'after the quorum came back')")
        finished["at"] = time.monotonic()
    except Exception as e:  # noqa: BLE001 - reported below
        finished["error"] = repr(e)


thread = threading.Thread(target=write, daemon=True)
thread.start()
time.sleep(2)
assert finished == {}, f"a write finished without a write quorum: {finished}"
healed_at = time.monotonic()
status, _ = fault_api(endpoint, "DELETE", "/_squall/faults")
assert status == 200
thread.join(60)
assert "at" in finished and finished["at"] >= healed_at, finished
conn.close()
conn = pg_connect(port, "app", "s3cret-pass")
assert conn.execute("SELECT count(*) FROM entries").fetchone() == (121,)
assert conn.execute("SELECT note FROM entries WHERE n = 999").fetchone() == ("after the quorum came back",)
conn.close()

# A cluster snapshot holds the rows; a cluster restored from it serves them on its own volume.
snapshot = rds.create_db_cluster_snapshot(DBClusterIdentifier="ledger", DBClusterSnapshotIdentifier="ledger-snap")
assert snapshot["DBClusterSnapshot"]["Status"] == "creating", snapshot
rds.get_waiter("db_cluster_snapshot_available").wait(DBClusterSnapshotIdentifier="ledger-snap", WaiterConfig=FAST)
conn = pg_connect(port, "app", "s3cret-pass")
conn.execute("INSERT INTO entries VALUES (1000, 'after the snapshot')")
conn.close()
restored = rds.restore_db_cluster_from_snapshot(DBClusterIdentifier="ledger-copy", SnapshotIdentifier="ledger-snap",
                                                Engine="aurora-postgresql", Port=restored_port)["DBCluster"]
assert restored["Status"] == "creating" and restored["Port"] == restored_port, restored
rds.create_db_instance(DBInstanceIdentifier="ledger-copy-1", DBClusterIdentifier="ledger-copy",
                       Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger-copy-1", WaiterConfig=FAST)
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="ledger-copy", WaiterConfig=FAST)
copy = pg_connect(restored_port, "app", "s3cret-pass")
assert copy.execute("SELECT count(*) FROM entries").fetchone() == (121,)
assert copy.execute("SELECT count(*) FROM entries WHERE n = 1000").fetchone() == (0,)
copy.close()

# A Multi-AZ DB cluster of the postgres engine serves its writer's SQL the same way.
rds.create_db_cluster(DBClusterIdentifier="payments", Engine="postgres", DBClusterInstanceClass="db.m6gd.large",
                      AllocatedStorage=100, StorageType="gp3", Port=maz_port, MasterUsername="app",
                      MasterUserPassword="s3cret-pass", DatabaseName="payments")
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="payments", WaiterConfig=FAST)
with pg_connect(maz_port, "app", "s3cret-pass", dbname="payments") as maz:
    maz.execute("CREATE TABLE paid (n integer)")
    maz.execute("INSERT INTO paid VALUES (1), (2), (3)")
    assert maz.execute("SELECT sum(n) FROM paid").fetchone() == (6,)

print("rds cluster sql: ok")
