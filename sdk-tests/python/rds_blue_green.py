"""Blue/green deployments with boto3 and psycopg 3 against the squall at argv[1]: a PostgreSQL
instance (port argv[2]) and an Aurora cluster (port argv[3]) each get a green copy on a newer
engine version that replicates them and refuses writes; SwitchoverBlueGreenDeployment holds the
blue writes until the green copy has them all (a commit just before it is not lost), then renames as
RDS does (`-old1` for the blue resources, the blue names for the green ones) and moves the
endpoint, so a client of the same port reaches the green database, which has every row and takes
writes; filters, RDS's refusals, DeleteTarget.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

from common import FAST, client, fails, pg_connect

endpoint = sys.argv[1]
instance_port, cluster_port = int(sys.argv[2]), int(sys.argv[3])
rds = client("rds", endpoint)


def eventually(what, predicate, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def deployment(bgd):
    return rds.describe_blue_green_deployments(BlueGreenDeploymentIdentifier=bgd)["BlueGreenDeployments"][0]


def connect(port, attempts=100):
    return pg_connect(port, "owner", "correct-horse", dbname="shop", attempts=attempts)


def count(port):
    try:
        with connect(port, attempts=5) as conn:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    except Exception:  # noqa: BLE001 - not serving yet, or not replicated yet
        return None


# ---- a DB instance ---------------------------------------------------------------------------
blue = rds.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres", EngineVersion="15.8",
                              DBInstanceClass="db.t3.micro", AllocatedStorage=20, Port=instance_port,
                              MasterUsername="owner", MasterUserPassword="correct-horse", DBName="shop",
                              BackupRetentionPeriod=1)["DBInstance"]
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=FAST)
blue_arn = blue["DBInstanceArn"]
with connect(instance_port) as conn:
    conn.execute("CREATE TABLE items (n integer PRIMARY KEY)")
    for n in range(40):
        conn.execute("INSERT INTO items VALUES (%s)", (n,))

fails("DBInstanceNotFound", rds.create_blue_green_deployment, BlueGreenDeploymentName="bad",
      Source="arn:aws:rds:us-east-1:000000000000:db:nope")
fails("InvalidParameterValue", rds.create_blue_green_deployment, BlueGreenDeploymentName="bad",
      Source="arn:aws:rds:eu-west-1:000000000000:db:orders")
fails("InvalidParameterValue", rds.create_blue_green_deployment, BlueGreenDeploymentName="older", Source=blue_arn,
      TargetEngineVersion="14.13")
made = rds.create_blue_green_deployment(BlueGreenDeploymentName="orders-upgrade", Source=blue_arn,
                                        TargetEngineVersion="16.4",
                                        Tags=[{"Key": "team", "Value": "payments"}])["BlueGreenDeployment"]
bgd = made["BlueGreenDeploymentIdentifier"]
assert bgd.startswith("bgd-") and made["Status"] == "PROVISIONING" and made["Source"] == blue_arn, made
green_id = made["Target"].rsplit(":", 1)[1]
assert green_id.startswith("orders-green-"), made
assert [t["Name"] for t in made["Tasks"]] == ["CREATING_READ_REPLICA_OF_SOURCE", "DB_ENGINE_VERSION_UPGRADE"], made
fails("BlueGreenDeploymentAlreadyExistsFault", rds.create_blue_green_deployment,
      BlueGreenDeploymentName="orders-upgrade", Source=blue_arn)
fails("InvalidBlueGreenDeploymentStateFault", rds.create_blue_green_deployment,
      BlueGreenDeploymentName="another", Source=blue_arn)
fails("BlueGreenDeploymentNotFoundFault", rds.describe_blue_green_deployments,
      BlueGreenDeploymentIdentifier="bgd-nope")
fails("InvalidBlueGreenDeploymentStateFault", rds.delete_db_instance, DBInstanceIdentifier="orders",
      SkipFinalSnapshot=True)
eventually("the deployment to be available", lambda: deployment(bgd)["Status"] == "AVAILABLE")
fails("InvalidParameterValue", rds.describe_blue_green_deployments, Filters=[{"Name": "colour", "Values": ["x"]}])
by_source = rds.describe_blue_green_deployments(Filters=[{"Name": "source", "Values": [blue_arn]}])
assert [d["BlueGreenDeploymentIdentifier"] for d in by_source["BlueGreenDeployments"]] == [bgd], by_source

green = rds.describe_db_instances(DBInstanceIdentifier=green_id)["DBInstances"][0]
assert green["EngineVersion"] == "16.4" and green["ReadReplicaSourceDBInstanceIdentifier"] == "orders", green
assert green["Endpoint"]["Port"] != instance_port, green
eventually("the green instance to hold the blue rows", lambda: count(green["Endpoint"]["Port"]) == 40)
with connect(instance_port) as conn:
    conn.execute("INSERT INTO items VALUES (40)")
eventually("the green instance to follow the blue commits", lambda: count(green["Endpoint"]["Port"]) == 41)

# Switchover: the blue database stops taking writes, the green copy catches up (a commit made
# just before the switchover is not lost), then the names and the port move; the same connection
# settings reach the green database.
with connect(instance_port) as conn:
    conn.execute("INSERT INTO items VALUES (41)")
switching = rds.switchover_blue_green_deployment(BlueGreenDeploymentIdentifier=bgd)["BlueGreenDeployment"]
assert switching["Status"] == "SWITCHOVER_IN_PROGRESS", switching
eventually("the switchover to complete", lambda: deployment(bgd)["Status"] == "SWITCHOVER_COMPLETED")
done = deployment(bgd)
assert done["Source"].endswith(":db:orders-old1") and done["Target"].endswith(":db:orders"), done
now = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
assert now["EngineVersion"] == "16.4" and now["Endpoint"]["Port"] == instance_port, now
assert "ReadReplicaSourceDBInstanceIdentifier" not in now, now
old = rds.describe_db_instances(DBInstanceIdentifier="orders-old1")["DBInstances"][0]
assert old["EngineVersion"] == "15.8" and old["Endpoint"]["Port"] != instance_port, old


eventually("the green database on the blue port", lambda: count(instance_port) == 42)


def writes_on_green():
    try:
        with connect(instance_port, attempts=5) as conn:
            conn.execute("INSERT INTO items VALUES (42)")
            return conn.execute("SELECT count(*) FROM items").fetchone()[0] == 43
    except Exception:  # noqa: BLE001 - the endpoints move within a poll
        return False


eventually("the green database to take writes on the blue port", writes_on_green)
fails("InvalidParameterCombination", rds.delete_blue_green_deployment, BlueGreenDeploymentIdentifier=bgd,
      DeleteTarget=True)
assert rds.delete_blue_green_deployment(BlueGreenDeploymentIdentifier=bgd)["BlueGreenDeployment"]["Status"] == "DELETING"
fails("BlueGreenDeploymentNotFoundFault", rds.delete_blue_green_deployment, BlueGreenDeploymentIdentifier=bgd)

# A deployment deleted before its switchover with DeleteTarget: the green copy goes.
second = rds.create_blue_green_deployment(BlueGreenDeploymentName="try-again", Source=now["DBInstanceArn"])
second_id = second["BlueGreenDeployment"]["BlueGreenDeploymentIdentifier"]
second_green = second["BlueGreenDeployment"]["Target"].rsplit(":", 1)[1]
eventually("the second deployment", lambda: deployment(second_id)["Status"] == "AVAILABLE")
rds.delete_blue_green_deployment(BlueGreenDeploymentIdentifier=second_id, DeleteTarget=True)
rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=second_green, WaiterConfig=FAST)

# ---- an Aurora cluster -----------------------------------------------------------------------
cluster = rds.create_db_cluster(DBClusterIdentifier="ledger", Engine="aurora-postgresql", EngineVersion="15.8",
                                Port=cluster_port, MasterUsername="owner", MasterUserPassword="correct-horse",
                                DatabaseName="shop")["DBCluster"]
for name in ("ledger-1", "ledger-2"):
    rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier="ledger", Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")
for name in ("ledger-1", "ledger-2"):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name, WaiterConfig=FAST)
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="ledger", WaiterConfig=FAST)
with connect(cluster_port) as conn:
    conn.execute("CREATE TABLE items (n integer PRIMARY KEY)")
    for n in range(25):
        conn.execute("INSERT INTO items VALUES (%s)", (n,))
made = rds.create_blue_green_deployment(BlueGreenDeploymentName="ledger-upgrade", Source=cluster["DBClusterArn"],
                                        TargetEngineVersion="16.4")["BlueGreenDeployment"]
cluster_bgd = made["BlueGreenDeploymentIdentifier"]
assert len(made["SwitchoverDetails"]) == 3, made
green_cluster = made["Target"].rsplit(":", 1)[1]
eventually("the cluster deployment to be available", lambda: deployment(cluster_bgd)["Status"] == "AVAILABLE")
shown = rds.describe_db_clusters(DBClusterIdentifier=green_cluster)["DBClusters"][0]
assert shown["EngineVersion"] == "16.4" and shown["ReplicationSourceIdentifier"] == cluster["DBClusterArn"], shown
assert len(shown["DBClusterMembers"]) == 2, shown
eventually("the green cluster to hold the rows", lambda: count(shown["Port"]) == 25)
with connect(cluster_port) as conn:
    conn.execute("INSERT INTO items VALUES (25)")
rds.switchover_blue_green_deployment(BlueGreenDeploymentIdentifier=cluster_bgd)
eventually("the cluster switchover", lambda: deployment(cluster_bgd)["Status"] == "SWITCHOVER_COMPLETED")
eventually("the green cluster on the blue port", lambda: count(cluster_port) == 26)
now = rds.describe_db_clusters(DBClusterIdentifier="ledger")["DBClusters"][0]
assert now["EngineVersion"] == "16.4" and now["Port"] == cluster_port and "ReplicationSourceIdentifier" not in now, now
assert sorted(m["DBInstanceIdentifier"] for m in now["DBClusterMembers"]) == ["ledger-1", "ledger-2"], now
old = rds.describe_db_clusters(DBClusterIdentifier="ledger-old1")["DBClusters"][0]
assert sorted(m["DBInstanceIdentifier"] for m in old["DBClusterMembers"]) == ["ledger-1-old1", "ledger-2-old1"], old


def cluster_writes():
    try:
        with connect(cluster_port, attempts=5) as conn:
            conn.execute("INSERT INTO items VALUES (100)")
            return conn.execute("SELECT count(*) FROM items").fetchone()[0] == 27
    except Exception:  # noqa: BLE001 - the endpoints move within a poll
        return False


eventually("the green cluster to take writes on the blue port", cluster_writes)
rds.delete_blue_green_deployment(BlueGreenDeploymentIdentifier=cluster_bgd)
assert rds.describe_blue_green_deployments()["BlueGreenDeployments"] == []

print("boto3 rds blue/green: ok")
