"""Read replicas of a PostgreSQL DB instance, through boto3 and psycopg 3, against the squall at
argv[1]; the source serves on port argv[2], replicas on argv[3] and argv[4].

A replica serves the source's rows, refuses writes with 25006, catches up with new commits
(its lag visible in /_squall/status and /metrics), keeps serving reads while its source's zone
is cut off, and becomes a standalone, writable instance when promoted or when its source is
deleted. RDS's rules answer with RDS's error codes.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import json
import sys
import threading
import time
import urllib.request

import boto3
import botocore.exceptions
import psycopg
from botocore.config import Config

endpoint = sys.argv[1]
source_port, replica_port, second_port = (int(p) for p in sys.argv[2:5])
rds = boto3.client(
    "rds",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
fast = {"Delay": 1, "MaxAttempts": 60}


def dsn(port):
    return f"host=127.0.0.1 port={port} dbname=shop user=shop_admin password=correct-horse connect_timeout=5"


def connect(port, attempts=100):
    for _ in range(attempts):
        try:
            return psycopg.connect(dsn(port), autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError(f"the endpoint on {port} never took a connection")


def squall(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError:
            return raw.decode()


def endpoint_status(instance):
    for e in squall("GET", "/_squall/status")["sqlEndpoints"]:
        if e["instance"] == "us-east-1/" + instance:
            return e
    return None


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError(f"{call.__name__} {kwargs} succeeded")


def describe(instance):
    return rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]


def count(conn, table="orders"):
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def wait_for(what, predicate, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


rds.create_db_instance(
    DBInstanceIdentifier="shop",
    Engine="postgres",
    DBInstanceClass="db.t3.micro",
    AllocatedStorage=20,
    MasterUsername="shop_admin",
    MasterUserPassword="correct-horse",
    DBName="shop",
    Port=source_port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop", WaiterConfig=fast)
source = connect(source_port)
source.execute("CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, item TEXT NOT NULL, qty INTEGER)")
with source.cursor() as cur:
    cur.executemany("INSERT INTO orders (item, qty) VALUES (%s, %s)", [(f"item-{n}", n) for n in range(100)])
assert count(source) == 100

# RDS's rules for a source.
code, _ = error_code(rds.create_db_instance_read_replica, DBInstanceIdentifier="r0", SourceDBInstanceIdentifier="nope")
assert code == "DBInstanceNotFound", code
rds.modify_db_instance(DBInstanceIdentifier="shop", BackupRetentionPeriod=0, ApplyImmediately=True)
code, message = error_code(rds.create_db_instance_read_replica, DBInstanceIdentifier="r0", SourceDBInstanceIdentifier="shop")
assert code == "InvalidDBInstanceState" and "Automated backups are not enabled" in message, (code, message)
rds.modify_db_instance(DBInstanceIdentifier="shop", BackupRetentionPeriod=1, ApplyImmediately=True)
wait_for("the source to be available", lambda: describe("shop")["DBInstanceStatus"] == "available")

# A replica in another zone than its source.
source_zone = describe("shop")["AvailabilityZone"]
zones = [z["ZoneName"] for z in boto3.client(
    "ec2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
).describe_availability_zones()["AvailabilityZones"]]
replica_zone = next(z for z in zones if z != source_zone)
made = rds.create_db_instance_read_replica(
    DBInstanceIdentifier="shop-ro",
    SourceDBInstanceIdentifier="shop",
    AvailabilityZone=replica_zone,
    Port=replica_port,
    Tags=[{"Key": "role", "Value": "reporting"}],
)["DBInstance"]
assert made["ReadReplicaSourceDBInstanceIdentifier"] == "shop" and made["DBInstanceStatus"] == "creating", made
code, _ = error_code(rds.create_db_instance_read_replica, DBInstanceIdentifier="shop-ro", SourceDBInstanceIdentifier="shop")
assert code == "DBInstanceAlreadyExists", code
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-ro", WaiterConfig=fast)
replica_row = describe("shop-ro")
assert replica_row["AvailabilityZone"] == replica_zone and replica_row["BackupRetentionPeriod"] == 0, replica_row
assert replica_row["Engine"] == "postgres" and replica_row["MasterUsername"] == "shop_admin", replica_row
assert {"StatusType": "read replication", "Normal": True, "Status": "replicating"} in replica_row["StatusInfos"], replica_row
assert describe("shop")["ReadReplicaDBInstanceIdentifiers"] == ["shop-ro"]

# It serves the source's rows, as a standby in recovery, and refuses writes.
replica = connect(replica_port)
assert count(replica) == 100
assert replica.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
assert source.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
assert replica.execute("SHOW transaction_read_only").fetchone() == ("on",)
for sql, verb in [("INSERT INTO orders (item, qty) VALUES ('x', 1)", "INSERT"), ("CREATE TABLE t (a INT)", "CREATE TABLE")]:
    try:
        replica.execute(sql)
        raise AssertionError(f"a read replica ran {sql}")
    except psycopg.errors.ReadOnlySqlTransaction as e:
        assert e.sqlstate == "25006" and str(e).startswith(f"cannot execute {verb} in a read-only transaction"), str(e)
assert count(replica) == 100

# New commits reach it asynchronously: seen within a second, lag back to 0 after.
with source.cursor() as cur:
    cur.executemany("INSERT INTO orders (item, qty) VALUES (%s, %s)", [(f"more-{n}", n) for n in range(50)])
started = time.time()
wait_for("the replica to catch up", lambda: count(replica) == 150, seconds=5)
caught_up_in = time.time() - started
assert replica.execute("SELECT max(qty) FROM orders WHERE item LIKE 'more-%'").fetchone() == (49,)
wait_for("a lag of 0", lambda: endpoint_status("shop-ro")["replicaLagMs"] == 0)
status = endpoint_status("shop-ro")
assert status["replicaOf"] == "us-east-1/shop" and status["port"] == replica_port, status
metrics = squall("GET", "/metrics")
assert 'squall_rds_replica_lag_seconds{instance="us-east-1/shop-ro",source="us-east-1/shop"} 0' in metrics, metrics

# RDS's rules for replicas and their sources.
for who in ["shop", "shop-ro"]:
    code, _ = error_code(rds.stop_db_instance, DBInstanceIdentifier=who)
    assert code == "InvalidDBInstanceState", (who, code)
code, _ = error_code(rds.delete_db_instance, DBInstanceIdentifier="shop-ro", FinalDBSnapshotIdentifier="final")
assert code == "InvalidParameterCombination", code
code, _ = error_code(rds.modify_db_instance, DBInstanceIdentifier="shop", BackupRetentionPeriod=0, ApplyImmediately=True)
assert code == "InvalidParameterCombination", code
code, _ = error_code(rds.promote_read_replica, DBInstanceIdentifier="shop")
assert code == "InvalidDBInstanceState", code

# The source's zone is cut off: the replica in its own zone keeps serving what it has, and its
# lag grows; when the zone heals, it catches up.
pending = connect(source_port)
cut = squall("POST", "/_squall/faults", {"kind": "az-outage", "zone": source_zone, "region": "us-east-1"})
time.sleep(0.3)


def write_during_outage():
    pending.execute("INSERT INTO orders (item, qty) VALUES ('during-outage', 1)")

writer = threading.Thread(target=write_during_outage, daemon=True)
writer.start()
time.sleep(1.5)
assert count(replica) == 150, "the replica stopped serving reads while its source's zone was out"
lag = endpoint_status("shop-ro")["replicaLagMs"]
assert lag >= 1000, f"the replica's lag did not grow while its source was cut off: {lag} ms"
squall("DELETE", "/_squall/faults/" + cut["id"])
writer.join(timeout=30)
assert not writer.is_alive(), "the write on the source never completed after the zone healed"
wait_for("the replica to catch up after the outage", lambda: count(replica) == 151, seconds=10)
pending.close()

# Promotion: replication stops, and the instance takes writes once it completes.
promoted = rds.promote_read_replica(DBInstanceIdentifier="shop-ro", BackupRetentionPeriod=3)["DBInstance"]
assert promoted["DBInstanceStatus"] == "modifying", promoted
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-ro", WaiterConfig=fast)
row = describe("shop-ro")
assert "ReadReplicaSourceDBInstanceIdentifier" not in row and row["BackupRetentionPeriod"] == 3, row
assert not any(s.get("StatusType") == "read replication" for s in row.get("StatusInfos", [])), row
assert describe("shop")["ReadReplicaDBInstanceIdentifiers"] == []
code, _ = error_code(rds.promote_read_replica, DBInstanceIdentifier="shop-ro")
assert code == "InvalidDBInstanceState", code
replica.close()


def writable(port):
    def attempt():
        try:
            with connect(port) as c:
                c.execute("INSERT INTO orders (item, qty) VALUES ('standalone', 1)")
            return True
        except (psycopg.errors.ReadOnlySqlTransaction, psycopg.OperationalError):
            return False
    return attempt


wait_for("the promoted instance to take writes", writable(replica_port))
promoted_conn = connect(replica_port)
source.execute("INSERT INTO orders (item, qty) VALUES ('only-on-source', 1)")
time.sleep(0.5)
assert count(promoted_conn) == 152 and count(source) == 152, (count(promoted_conn), count(source))
assert promoted_conn.execute("SELECT count(*) FROM orders WHERE item = 'only-on-source'").fetchone() == (0,)
assert endpoint_status("shop-ro")["replicaOf"] is None
promoted_conn.close()

# Deleting a source promotes its replicas.
rds.create_db_instance_read_replica(DBInstanceIdentifier="shop-ro2", SourceDBInstanceIdentifier="shop", Port=second_port)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-ro2", WaiterConfig=fast)
second = connect(second_port)
assert count(second) == 152
second.close()
source.close()
rds.delete_db_instance(DBInstanceIdentifier="shop", SkipFinalSnapshot=True)
rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="shop", WaiterConfig=fast)
assert "ReadReplicaSourceDBInstanceIdentifier" not in describe("shop-ro2")
wait_for("the orphaned replica to take writes", writable(second_port))
events = rds.describe_events(SourceIdentifier="shop-ro2", SourceType="db-instance")["Events"]
assert any("read replica" in e["EventCategories"] for e in events), events

print(f"rds read replicas: ok (caught up in {caught_up_in:.2f} s, lag {lag} ms while the source's zone was out)")
