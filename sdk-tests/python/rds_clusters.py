"""Aurora DB clusters with boto3 against the squall at argv[1]: create with RDS's validation,
waiters (db_cluster_available, db_cluster_deleted), filters, modify, stop and start, deletion
protection and the final-snapshot rule, events and tags by ARN, and a clear not-implemented
answer for what is not built yet (Multi-AZ DB clusters, cluster snapshots).

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

from common import FAST, client, fails

rds = client("rds", sys.argv[1])

made = rds.create_db_cluster(
    DBClusterIdentifier="Orders", Engine="aurora-postgresql", EngineVersion="16",
    MasterUsername="app", MasterUserPassword="s3cret-pass", DatabaseName="orders",
    ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 8},
    Tags=[{"Key": "team", "Value": "payments"}])["DBCluster"]
assert made["DBClusterIdentifier"] == "orders" and made["Status"] == "creating", made
assert made["Engine"] == "aurora-postgresql" and made["EngineVersion"].startswith("16."), made
assert made["EngineMode"] == "provisioned" and made["Port"] == 5432 and made["StorageType"] == "aurora", made
assert len(made["AvailabilityZones"]) == 3 and len(set(made["AvailabilityZones"])) == 3, made
assert made["DbClusterResourceId"].startswith("cluster-") and made["DBClusterArn"].endswith(":cluster:orders"), made
assert made["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 8.0}, made
assert made["DBClusterParameterGroup"] == "default.aurora-postgresql16" and made["BackupRetentionPeriod"] == 1, made
assert made["DBClusterMembers"] == [] and made["VpcSecurityGroups"][0]["Status"] == "active", made
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)

# RDS's validation.
fails("DBClusterAlreadyExistsFault", rds.create_db_cluster, DBClusterIdentifier="orders",
      Engine="aurora-postgresql", MasterUsername="app", MasterUserPassword="s3cret-pass")
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="bad--name",
      Engine="aurora-postgresql", MasterUsername="app", MasterUserPassword="s3cret-pass")
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", Engine="aurora-postgresql",
      MasterUsername="app", MasterUserPassword="short")
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", Engine="aurora-postgresql",
      MasterUsername="app")
fails("InvalidParameterCombination", rds.create_db_cluster, DBClusterIdentifier="c2", Engine="aurora-postgresql",
      MasterUsername="app", MasterUserPassword="s3cret-pass", BacktrackWindow=3600)
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", Engine="aurora-postgresql",
      MasterUsername="app", MasterUserPassword="s3cret-pass",
      ServerlessV2ScalingConfiguration={"MinCapacity": 0.7, "MaxCapacity": 8})
fails("DBClusterParameterGroupNotFound", rds.create_db_cluster, DBClusterIdentifier="c2",
      Engine="aurora-postgresql", MasterUsername="app", MasterUserPassword="s3cret-pass",
      DBClusterParameterGroupName="mine")
fails("NotImplemented", rds.create_db_cluster, DBClusterIdentifier="c2", Engine="postgres",
      MasterUsername="app", MasterUserPassword="s3cret-pass", DBClusterInstanceClass="db.m5d.large",
      AllocatedStorage=100, StorageType="io1", Iops=1000)
fails("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier="nope")

# Aurora MySQL: its port, backtracking.
mysql = rds.create_db_cluster(DBClusterIdentifier="sessions", Engine="aurora-mysql", MasterUsername="admin",
                              MasterUserPassword="s3cret-pass", BacktrackWindow=7200)["DBCluster"]
assert mysql["Port"] == 3306 and mysql["BacktrackWindow"] == 7200, mysql
assert mysql["DBClusterParameterGroup"].startswith("default.aurora-mysql8.0"), mysql
by_engine = rds.describe_db_clusters(Filters=[{"Name": "engine", "Values": ["aurora-mysql"]}])["DBClusters"]
assert [c["DBClusterIdentifier"] for c in by_engine] == ["sessions"], by_engine
by_arn = rds.describe_db_clusters(DBClusterIdentifier=made["DBClusterArn"])["DBClusters"]
assert [c["DBClusterIdentifier"] for c in by_arn] == ["orders"], by_arn
fails("InvalidParameterValue", rds.describe_db_clusters, Filters=[{"Name": "color", "Values": ["x"]}])

# Modify: deletion protection, retention, capacity; then the protection holds.
modified = rds.modify_db_cluster(DBClusterIdentifier="orders", DeletionProtection=True, BackupRetentionPeriod=7,
                                 ServerlessV2ScalingConfiguration={"MinCapacity": 1, "MaxCapacity": 16},
                                 ApplyImmediately=True)["DBCluster"]
assert modified["Status"] == "modifying" and modified["DeletionProtection"] is True, modified
assert modified["BackupRetentionPeriod"] == 7 and modified["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 16.0
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)
fails("InvalidParameterCombination", rds.delete_db_cluster, DBClusterIdentifier="orders", SkipFinalSnapshot=True)
rds.modify_db_cluster(DBClusterIdentifier="orders", DeletionProtection=False, ApplyImmediately=True)
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)

# Stop and start.
assert rds.stop_db_cluster(DBClusterIdentifier="orders")["DBCluster"]["Status"] == "stopping"
fails("InvalidDBClusterStateFault", rds.stop_db_cluster, DBClusterIdentifier="orders")
fails("InvalidDBClusterStateFault", rds.modify_db_cluster, DBClusterIdentifier="orders", BackupRetentionPeriod=3)
fails("InvalidDBClusterStateFault", rds.start_db_cluster, DBClusterIdentifier="sessions")
for _ in range(60):
    if rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["Status"] == "stopped":
        break
    time.sleep(0.2)
else:
    raise AssertionError("orders never stopped")
assert rds.start_db_cluster(DBClusterIdentifier="orders")["DBCluster"]["Status"] == "starting"
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)

# Tags by ARN; events of the cluster.
rds.add_tags_to_resource(ResourceName=made["DBClusterArn"], Tags=[{"Key": "tier", "Value": "gold"}])
tags = rds.list_tags_for_resource(ResourceName=made["DBClusterArn"])["TagList"]
assert {t["Key"]: t["Value"] for t in tags} == {"team": "payments", "tier": "gold"}, tags

# Deletion: a final snapshot is required unless skipped (cluster snapshots are not built yet).
fails("InvalidParameterCombination", rds.delete_db_cluster, DBClusterIdentifier="sessions")
fails("NotImplemented", rds.delete_db_cluster, DBClusterIdentifier="sessions", FinalDBSnapshotIdentifier="last")
gone = rds.delete_db_cluster(DBClusterIdentifier="sessions", SkipFinalSnapshot=True)["DBCluster"]
assert gone["Status"] == "deleting", gone
rds.get_waiter("db_cluster_deleted").wait(DBClusterIdentifier="sessions", WaiterConfig=FAST)
fails("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier="sessions")
events = [e["Message"] for e in rds.describe_events(SourceType="db-cluster", SourceIdentifier="orders")["Events"]]
assert events[0] == "DB cluster created" and "DB cluster stopped" in events and "DB cluster started" in events, events

print("boto3 rds clusters: ok")
