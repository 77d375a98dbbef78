"""Read replicas in another region, through boto3 and psycopg 3, against the squall at argv[1]:
a source in us-east-1 (port argv[2]) and replicas in us-west-2 (ports argv[3] and argv[4]). The
replica copies the source's rows, follows its commits, refuses writes, is listed by its source by
ARN, and becomes a standalone instance when promoted or when its source is deleted.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

import psycopg
from common import FAST, client, fails, pg_connect

endpoint = sys.argv[1]
source_port, replica_port, second_port = (int(p) for p in sys.argv[2:5])
east = client("rds", endpoint, region="us-east-1")
west = client("rds", endpoint, region="us-west-2")


def connect(port):
    return pg_connect(port, "owner", "correct-horse", dbname="shop")


def count(port):
    with connect(port) as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def eventually(what, predicate, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def write_eventually(port, sql):
    """Runs a write once the endpoint takes writes (a promotion reaches it within its poll)."""
    for _ in range(50):
        try:
            with connect(port) as conn:
                conn.execute(sql)
            return
        except psycopg.errors.ReadOnlySqlTransaction:
            time.sleep(0.1)
    raise AssertionError(f"the endpoint on {port} never took a write")


def describe(client_, instance):
    return client_.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]


east.create_db_instance(DBInstanceIdentifier="shop", Engine="postgres", DBInstanceClass="db.t3.micro",
                        AllocatedStorage=20, MasterUsername="owner", MasterUserPassword="correct-horse",
                        DBName="shop", Port=source_port)
east.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop", WaiterConfig=FAST)
with connect(source_port) as conn:
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    for i in range(25):
        conn.execute("INSERT INTO orders VALUES (%s, %s)", (i, f"item-{i}"))
source_arn = describe(east, "shop")["DBInstanceArn"]

# RDS's rules: the source by ARN, existing, in a region squall serves.
fails("DBInstanceNotFound", west.create_db_instance_read_replica, DBInstanceIdentifier="x",
      SourceDBInstanceIdentifier=source_arn.replace(":shop", ":nope"), SourceRegion="us-east-1")
fails("InvalidParameterValue", west.create_db_instance_read_replica, DBInstanceIdentifier="x",
      SourceDBInstanceIdentifier="shop", SourceRegion="us-east-1")

# boto3 turns SourceRegion into the PreSignedUrl RDS asks a cross-region replica for.
made = west.create_db_instance_read_replica(DBInstanceIdentifier="shop-west", SourceDBInstanceIdentifier=source_arn,
                                            SourceRegion="us-east-1", Port=replica_port)["DBInstance"]
assert made["ReadReplicaSourceDBInstanceIdentifier"] == source_arn, made
west.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-west", WaiterConfig=FAST)
replica = describe(west, "shop-west")
replica_arn = replica["DBInstanceArn"]
assert replica_arn.startswith("arn:aws:rds:us-west-2:") and replica["AvailabilityZone"].startswith("us-west-2"), replica
assert describe(east, "shop")["ReadReplicaDBInstanceIdentifiers"] == [replica_arn], describe(east, "shop")

# Its rows, then the source's next commits; writes refused.
eventually("the replica to copy the source", lambda: count(replica_port) == 25)
with connect(source_port) as conn:
    for i in range(25, 40):
        conn.execute("INSERT INTO orders VALUES (%s, %s)", (i, f"item-{i}"))
eventually("the replica to follow the source", lambda: count(replica_port) == 40)
with connect(replica_port) as conn:
    try:
        conn.execute("INSERT INTO orders VALUES (999, 'nope')")
        raise AssertionError("a read replica took a write")
    except psycopg.errors.ReadOnlySqlTransaction:
        pass
fails("InvalidDBInstanceState", east.stop_db_instance, DBInstanceIdentifier="shop")

# Promoted: standalone, writable, and its source forgets it.
west.promote_read_replica(DBInstanceIdentifier="shop-west")
eventually("the promotion", lambda: "ReadReplicaSourceDBInstanceIdentifier" not in describe(west, "shop-west")
           and describe(west, "shop-west")["DBInstanceStatus"] == "available")
assert describe(east, "shop").get("ReadReplicaDBInstanceIdentifiers", []) == [], describe(east, "shop")
write_eventually(replica_port, "INSERT INTO orders VALUES (1000, 'west only')")
assert count(replica_port) == 41 and count(source_port) == 40

# Another one; deleting the source leaves it standalone.
west.create_db_instance_read_replica(DBInstanceIdentifier="shop-west-2", SourceDBInstanceIdentifier=source_arn,
                                     SourceRegion="us-east-1", Port=second_port)
west.get_waiter("db_instance_available").wait(DBInstanceIdentifier="shop-west-2", WaiterConfig=FAST)
eventually("the second replica to copy the source", lambda: count(second_port) == 40)
east.delete_db_instance(DBInstanceIdentifier="shop", SkipFinalSnapshot=True)
eventually("the second replica to stand alone",
           lambda: "ReadReplicaSourceDBInstanceIdentifier" not in describe(west, "shop-west-2"))
events = west.describe_events(SourceType="db-instance", SourceIdentifier="shop-west-2")["Events"]
assert any("has ended" in e["Message"] for e in events), events
eventually("the second replica to take writes", lambda: describe(west, "shop-west-2")["DBInstanceStatus"] == "available")
write_eventually(second_port, "INSERT INTO orders VALUES (2000, 'after the source')")
assert count(second_port) == 41
for instance in ("shop-west", "shop-west-2"):
    west.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
print("rds cross-region replicas: ok")
