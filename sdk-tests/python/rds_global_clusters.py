"""Aurora global databases with boto3 and psycopg 3 against the squall at argv[1]: a global
cluster made from a regional cluster in us-east-1 (port argv[2]); a secondary cluster in us-west-2
(port argv[3]) that takes the primary's rows and follows its commits, refuses writes, and after
RemoveFromGlobalCluster writes on its own; DescribeGlobalClusters from either region, members and
readers by ARN, rename, deletion protection and RDS's refusals.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

from common import FAST, client, fails, pg_connect

endpoint = sys.argv[1]
primary_port, secondary_port = int(sys.argv[2]), int(sys.argv[3])
east = client("rds", endpoint, region="us-east-1")
west = client("rds", endpoint, region="us-west-2")


def eventually(what, predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


primary = east.create_db_cluster(DBClusterIdentifier="orders", Engine="aurora-postgresql", Port=primary_port,
                                 MasterUsername="owner", MasterUserPassword="correct-horse",
                                 DatabaseName="shop")["DBCluster"]
east.create_db_instance(DBInstanceIdentifier="orders-1", DBClusterIdentifier="orders", Engine="aurora-postgresql",
                        DBInstanceClass="db.r6g.large")
east.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders-1", WaiterConfig=FAST)
east.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)
with pg_connect(primary_port, "owner", "correct-horse", dbname="shop") as conn:
    conn.execute("CREATE TABLE items (n integer PRIMARY KEY)")
    for n in range(50):
        conn.execute("INSERT INTO items VALUES (%s)", (n,))

# The global cluster, from the regional cluster: it becomes the primary (the writer).
made = east.create_global_cluster(GlobalClusterIdentifier="Shop-Global",
                                  SourceDBClusterIdentifier=primary["DBClusterArn"])["GlobalCluster"]
assert made["GlobalClusterIdentifier"] == "shop-global" and made["Engine"] == "aurora-postgresql", made
assert made["EngineVersion"] == primary["EngineVersion"] and made["DatabaseName"] == "shop", made
assert made["GlobalClusterArn"].startswith("arn:aws:rds::") and made["GlobalClusterArn"].endswith(":global-cluster:shop-global")
assert made["GlobalClusterMembers"] == [{"DBClusterArn": primary["DBClusterArn"], "Readers": [], "IsWriter": True,
                                         "SynchronizationStatus": "connected"}], made
shown = east.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
assert shown["GlobalClusterIdentifier"] == "shop-global", shown
fails("GlobalClusterAlreadyExistsFault", west.create_global_cluster, GlobalClusterIdentifier="shop-global",
      Engine="aurora-postgresql")
fails("InvalidParameterCombination", east.create_global_cluster, GlobalClusterIdentifier="again",
      SourceDBClusterIdentifier=primary["DBClusterArn"])
fails("InvalidParameterValue", east.create_global_cluster, GlobalClusterIdentifier="empty")
fails("GlobalClusterNotFoundFault", west.describe_global_clusters, GlobalClusterIdentifier="nope")
fails("InvalidDBClusterStateFault", east.delete_db_cluster, DBClusterIdentifier="orders", SkipFinalSnapshot=True)

# A secondary in us-west-2: the primary's credentials and database, read-only, replicating.
fails("InvalidParameterCombination", west.create_db_cluster, DBClusterIdentifier="orders-west",
      Engine="aurora-postgresql", GlobalClusterIdentifier="shop-global", MasterUsername="x", MasterUserPassword="y" * 8)
fails("InvalidParameterCombination", west.create_db_cluster, DBClusterIdentifier="orders-west",
      Engine="aurora-mysql", GlobalClusterIdentifier="shop-global")
fails("InvalidParameterCombination", east.create_db_cluster, DBClusterIdentifier="orders-2",
      Engine="aurora-postgresql", GlobalClusterIdentifier="shop-global")
secondary = west.create_db_cluster(DBClusterIdentifier="orders-west", Engine="aurora-postgresql",
                                   GlobalClusterIdentifier="shop-global", Port=secondary_port)["DBCluster"]
assert secondary["ReplicationSourceIdentifier"] == primary["DBClusterArn"], secondary
assert secondary["GlobalClusterIdentifier"] == "shop-global" and secondary["MasterUsername"] == "owner", secondary
west.create_db_instance(DBInstanceIdentifier="orders-west-1", DBClusterIdentifier="orders-west",
                        Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
west.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders-west-1", WaiterConfig=FAST)
west.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders-west", WaiterConfig=FAST)
members = west.describe_db_clusters(DBClusterIdentifier="orders-west")["DBClusters"][0]["DBClusterMembers"]
assert [m["IsClusterWriter"] for m in members] == [False], members

for rds in (east, west):
    g = rds.describe_global_clusters(GlobalClusterIdentifier="shop-global")["GlobalClusters"][0]
    by_arn = {m["DBClusterArn"]: m for m in g["GlobalClusterMembers"]}
    assert by_arn[primary["DBClusterArn"]]["IsWriter"] is True, g
    assert by_arn[primary["DBClusterArn"]]["Readers"] == [secondary["DBClusterArn"]], g
    assert by_arn[secondary["DBClusterArn"]]["IsWriter"] is False, g
assert [g["GlobalClusterIdentifier"] for g in west.describe_global_clusters(
    Filters=[{"Name": "engine", "Values": ["aurora-postgresql"]}])["GlobalClusters"]] == ["shop-global"]


def secondary_count():
    try:
        with pg_connect(secondary_port, "owner", "correct-horse", dbname="shop", attempts=5) as conn:
            return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    except Exception:  # noqa: BLE001 - not serving yet, or the table not replicated yet
        return None


eventually("the secondary to hold the primary's rows", lambda: secondary_count() == 50)
with pg_connect(primary_port, "owner", "correct-horse", dbname="shop") as conn:
    for n in range(50, 60):
        conn.execute("INSERT INTO items VALUES (%s)", (n,))
eventually("the secondary to follow the primary's commits", lambda: secondary_count() == 60)
with pg_connect(secondary_port, "owner", "correct-horse", dbname="shop") as conn:
    try:
        conn.execute("INSERT INTO items VALUES (1000)")
        raise AssertionError("a secondary cluster took a write")
    except Exception as e:  # noqa: BLE001 - checked below
        assert getattr(e, "sqlstate", None) == "25006", repr(e)

# Rename and protection; a global cluster with members cannot go.
renamed = west.modify_global_cluster(GlobalClusterIdentifier="shop-global", NewGlobalClusterIdentifier="shop",
                                     DeletionProtection=True)["GlobalCluster"]
assert renamed["GlobalClusterIdentifier"] == "shop" and renamed["DeletionProtection"] is True, renamed
assert east.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["GlobalClusterIdentifier"] == "shop"
fails("InvalidParameterCombination", east.delete_global_cluster, GlobalClusterIdentifier="shop")
east.modify_global_cluster(GlobalClusterIdentifier="shop", DeletionProtection=False)
fails("InvalidGlobalClusterStateFault", east.delete_global_cluster, GlobalClusterIdentifier="shop")
fails("InvalidGlobalClusterStateFault", east.remove_from_global_cluster, GlobalClusterIdentifier="shop",
      DbClusterIdentifier=primary["DBClusterArn"])

# The secondary leaves: a standalone cluster that writes, with everything it had replicated.
west.remove_from_global_cluster(GlobalClusterIdentifier="shop", DbClusterIdentifier=secondary["DBClusterArn"])
alone = west.describe_db_clusters(DBClusterIdentifier="orders-west")["DBClusters"][0]
assert "GlobalClusterIdentifier" not in alone and "ReplicationSourceIdentifier" not in alone, alone
assert [m["IsClusterWriter"] for m in alone["DBClusterMembers"]] == [True], alone


def write_secondary():
    try:
        with pg_connect(secondary_port, "owner", "correct-horse", dbname="shop", attempts=5) as conn:
            conn.execute("INSERT INTO items VALUES (1000)")
            return conn.execute("SELECT count(*) FROM items").fetchone()[0] == 61
    except Exception:  # noqa: BLE001 - the endpoint reopens writable within its poll
        return False


eventually("the detached cluster to take writes", write_secondary)
events = [e["Message"] for e in west.describe_events(SourceType="db-cluster", SourceIdentifier="orders-west")["Events"]]
assert any("promoted to a standalone cluster" in m for m in events), events

# The primary leaves last; then the global cluster can go.
east.remove_from_global_cluster(GlobalClusterIdentifier="shop", DbClusterIdentifier=primary["DBClusterArn"])
assert east.describe_global_clusters(GlobalClusterIdentifier="shop")["GlobalClusters"][0]["GlobalClusterMembers"] == []
gone = east.delete_global_cluster(GlobalClusterIdentifier="shop")["GlobalCluster"]
assert gone["Status"] == "deleting", gone
assert east.describe_global_clusters()["GlobalClusters"] == []
empty = west.create_global_cluster(GlobalClusterIdentifier="empty", Engine="aurora-mysql")["GlobalCluster"]
assert empty["GlobalClusterMembers"] == [] and empty["EngineVersion"].startswith("8.0"), empty
west.delete_global_cluster(GlobalClusterIdentifier="empty")

print("boto3 rds global clusters: ok")
