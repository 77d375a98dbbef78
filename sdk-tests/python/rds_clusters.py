"""Aurora DB clusters with boto3 against the squall at argv[1]: create with RDS's validation,
waiters (db_cluster_available, db_cluster_deleted), filters, modify, stop and start, deletion
protection and the final-snapshot rule, events and tags by ARN, DB cluster parameter groups and
RebootDBCluster, cluster snapshot copies and sharing, point-in-time restore, and Multi-AZ DB
clusters (postgres with three instances of their own).

argv[2] is a free port for the first cluster's SQL endpoint.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import datetime
import sys
import time

from common import FAST, client, fails, fault_api

rds = client("rds", sys.argv[1])
port = int(sys.argv[2])

made = rds.create_db_cluster(
    DBClusterIdentifier="Orders", Engine="aurora-postgresql", EngineVersion="16",
    MasterUsername="app", MasterUserPassword="s3cret-pass", DatabaseName="orders", Port=port,
    ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 8},
    Tags=[{"Key": "team", "Value": "payments"}])["DBCluster"]
assert made["DBClusterIdentifier"] == "orders" and made["Status"] == "creating", made
assert made["Engine"] == "aurora-postgresql" and made["EngineVersion"].startswith("16."), made
assert made["EngineMode"] == "provisioned" and made["Port"] == port and made["StorageType"] == "aurora", made
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
maz = {"Engine": "postgres", "MasterUsername": "app", "MasterUserPassword": "s3cret-pass"}
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", **maz)
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", DBClusterInstanceClass="db.m5d.large",
      **maz)
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", DBClusterInstanceClass="db.m5d.large",
      AllocatedStorage=100, StorageType="io1", **maz)
fails("InvalidParameterValue", rds.create_db_cluster, DBClusterIdentifier="c2", DBClusterInstanceClass="db.m5d.large",
      AllocatedStorage=100, StorageType="standard", **maz)
fails("InvalidParameterCombination", rds.create_db_cluster, DBClusterIdentifier="c2", Engine="aurora-postgresql",
      MasterUsername="app", MasterUserPassword="s3cret-pass", DBClusterInstanceClass="db.r6g.large")
fails("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier="nope")

# Aurora MySQL: its port, backtracking.
mysql = rds.create_db_cluster(DBClusterIdentifier="sessions", Engine="aurora-mysql", MasterUsername="admin",
                              MasterUserPassword="s3cret-pass", BacktrackWindow=7200)["DBCluster"]
# Without a Port, a free one of --rds-ports (where its SQL would listen), as for instances.
assert mysql["Port"] != port and 1150 <= mysql["Port"] and mysql["BacktrackWindow"] == 7200, mysql
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

# Instances of the cluster: the first writes, the others read; spread over the cluster's zones.
writer = rds.create_db_instance(DBInstanceIdentifier="orders-1", DBClusterIdentifier="orders",
                                Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")["DBInstance"]
assert writer["DBClusterIdentifier"] == "orders" and writer["PromotionTier"] == 1, writer
assert writer["AllocatedStorage"] == 1 and writer["StorageType"] == "aurora" and writer["Engine"] == "aurora-postgresql"
rds.create_db_instance(DBInstanceIdentifier="orders-2", DBClusterIdentifier="orders", Engine="aurora-postgresql",
                       DBInstanceClass="db.r6g.large", PromotionTier=0)
rds.create_db_instance(DBInstanceIdentifier="orders-3", DBClusterIdentifier="orders", Engine="aurora-postgresql",
                       DBInstanceClass="db.r6g.xlarge", PromotionTier=2)
for name in ("orders-1", "orders-2", "orders-3"):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name, WaiterConfig=FAST)
zones = {i["DBInstanceIdentifier"]: i["AvailabilityZone"]
         for i in rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["orders"]}])["DBInstances"]}
assert len(set(zones.values())) == 3 and set(zones.values()) <= set(made["AvailabilityZones"]), zones


def members():
    c = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    return {m["DBInstanceIdentifier"]: (m["IsClusterWriter"], m["PromotionTier"]) for m in c["DBClusterMembers"]}


def writer_of():
    return next(name for name, (w, _) in members().items() if w)


assert members() == {"orders-1": (True, 1), "orders-2": (False, 0), "orders-3": (False, 2)}, members()
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", DBClusterIdentifier="orders",
      Engine="aurora-mysql", DBInstanceClass="db.r6g.large")
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", DBClusterIdentifier="orders",
      Engine="aurora-postgresql", DBInstanceClass="db.r6g.large", AllocatedStorage=20)
fails("DBClusterNotFoundFault", rds.create_db_instance, DBInstanceIdentifier="x", DBClusterIdentifier="nope",
      Engine="aurora-postgresql", DBInstanceClass="db.r6g.large")
assert rds.create_db_instance(DBInstanceIdentifier="orders-sv2", DBClusterIdentifier="orders",
                              Engine="aurora-postgresql", DBInstanceClass="db.serverless",
                              PromotionTier=15)["DBInstance"]["DBInstanceClass"] == "db.serverless"
fails("InvalidParameterCombination", rds.stop_db_instance, DBInstanceIdentifier="orders-2")
fails("InvalidParameterCombination", rds.create_db_snapshot, DBInstanceIdentifier="orders-2", DBSnapshotIdentifier="s")
fails("InvalidDBClusterStateFault", rds.delete_db_cluster, DBClusterIdentifier="orders", SkipFinalSnapshot=True)

# Endpoints: the writer and reader endpoints every cluster has, and custom ones.
kinds = sorted(e["EndpointType"] for e in rds.describe_db_cluster_endpoints(DBClusterIdentifier="orders")["DBClusterEndpoints"])
assert kinds == ["READER", "WRITER"], kinds
custom = rds.create_db_cluster_endpoint(DBClusterIdentifier="orders", DBClusterEndpointIdentifier="reporting",
                                        EndpointType="READER", StaticMembers=["orders-3"])
assert custom["Status"] == "creating" and custom["EndpointType"] == "CUSTOM" and custom["StaticMembers"] == ["orders-3"]
assert custom["DBClusterEndpointArn"].endswith(":cluster-endpoint:reporting"), custom
fails("DBClusterEndpointAlreadyExistsFault", rds.create_db_cluster_endpoint, DBClusterIdentifier="orders",
      DBClusterEndpointIdentifier="reporting", EndpointType="ANY")
fails("DBInstanceNotFound", rds.create_db_cluster_endpoint, DBClusterIdentifier="orders",
      DBClusterEndpointIdentifier="other", EndpointType="ANY", StaticMembers=["nobody"])
fails("InvalidDBClusterEndpointStateFault", rds.modify_db_cluster_endpoint, DBClusterEndpointIdentifier="reporting",
      StaticMembers=["orders-2"])
for _ in range(50):
    (shown,) = rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="reporting")["DBClusterEndpoints"]
    if shown["Status"] == "available":
        break
    time.sleep(0.1)
assert shown["Status"] == "available", shown
modified = rds.modify_db_cluster_endpoint(DBClusterEndpointIdentifier="reporting", StaticMembers=["orders-2", "orders-3"])
assert modified["StaticMembers"] == ["orders-2", "orders-3"] and modified["Status"] == "modifying", modified
assert rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["CustomEndpoints"] == [shown["Endpoint"]]
fails("DBClusterEndpointNotFoundFault", rds.describe_db_cluster_endpoints, DBClusterEndpointIdentifier="nope")

# Failover: by promotion tier without a target, to the target with one.
failing = rds.failover_db_cluster(DBClusterIdentifier="orders")["DBCluster"]
assert failing["Status"] == "failing-over" and writer_of() == "orders-2", (failing["Status"], members())
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)
rds.failover_db_cluster(DBClusterIdentifier="orders", TargetDBInstanceIdentifier="orders-3")
assert writer_of() == "orders-3", members()
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)
fails("InvalidParameterValue", rds.failover_db_cluster, DBClusterIdentifier="orders",
      TargetDBInstanceIdentifier="orders-3")
rds.modify_db_instance(DBInstanceIdentifier="orders-1", PromotionTier=0, ApplyImmediately=True)
assert members()["orders-1"] == (False, 0), members()

# The writer's zone goes out: the cluster fails over by itself to the first reader by tier in a
# zone that is up.
status, _ = fault_api(sys.argv[1], "POST", "/_squall/faults",
                      {"kind": "az-outage", "region": "us-east-1", "zone": zones["orders-3"]})
assert status == 201, status
for _ in range(100):
    if writer_of() != "orders-3":
        break
    time.sleep(0.1)
assert writer_of() in ("orders-1", "orders-2") and zones[writer_of()] != zones["orders-3"], members()
cluster_events = [e["Message"] for e in rds.describe_events(SourceType="db-cluster", SourceIdentifier="orders")["Events"]]
assert any("is unreachable" in m for m in cluster_events), cluster_events
fault_api(sys.argv[1], "DELETE", "/_squall/faults")

for _ in range(50):
    if rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="reporting")["DBClusterEndpoints"][0]["Status"] == "available":
        break
    time.sleep(0.1)
assert rds.delete_db_cluster_endpoint(DBClusterEndpointIdentifier="reporting")["Status"] == "deleting"

# DB cluster parameter groups: their own namespace beside DB parameter groups, defaults per family,
# copy/modify/reset, the group a cluster uses cannot go; a static value waits for RebootDBCluster.
group = rds.create_db_cluster_parameter_group(
    DBClusterParameterGroupName="Orders-Params", DBParameterGroupFamily="aurora-postgresql16",
    Description="orders", Tags=[{"Key": "team", "Value": "payments"}])["DBClusterParameterGroup"]
assert group["DBClusterParameterGroupName"] == "orders-params", group
assert group["DBClusterParameterGroupArn"].endswith(":cluster-pg:orders-params"), group
assert rds.list_tags_for_resource(ResourceName=group["DBClusterParameterGroupArn"])["TagList"] == \
    [{"Key": "team", "Value": "payments"}]
fails("DBParameterGroupAlreadyExists", rds.create_db_cluster_parameter_group, DBClusterParameterGroupName="orders-params",
      DBParameterGroupFamily="aurora-postgresql16", Description="again")
fails("DBParameterGroupNotFound", rds.describe_db_cluster_parameter_groups, DBClusterParameterGroupName="nope")
fails("DBParameterGroupNotFound", rds.describe_db_parameter_groups, DBParameterGroupName="orders-params")
fails("InvalidParameterValue", rds.create_db_cluster_parameter_group, DBClusterParameterGroupName="x",
      DBParameterGroupFamily="aurora-postgresql99", Description="x")
names = [g["DBClusterParameterGroupName"] for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]]
assert "orders-params" in names and "default.aurora-postgresql16" in names, names
defaults = rds.describe_engine_default_cluster_parameters(DBParameterGroupFamily="aurora-postgresql16")["EngineDefaults"]
assert defaults["DBParameterGroupFamily"] == "aurora-postgresql16" and defaults["Parameters"], defaults
fails("InvalidParameterValue", rds.modify_db_cluster_parameter_group, DBClusterParameterGroupName="default.aurora-postgresql16",
      Parameters=[{"ParameterName": "statement_timeout", "ParameterValue": "1", "ApplyMethod": "immediate"}])
fails("InvalidParameterCombination", rds.modify_db_cluster_parameter_group, DBClusterParameterGroupName="orders-params",
      Parameters=[{"ParameterName": "max_connections", "ParameterValue": "50", "ApplyMethod": "immediate"}])
rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName="orders-params", Parameters=[
    {"ParameterName": "max_connections", "ParameterValue": "50", "ApplyMethod": "pending-reboot"},
    {"ParameterName": "statement_timeout", "ParameterValue": "900", "ApplyMethod": "immediate"}])
user = rds.describe_db_cluster_parameters(DBClusterParameterGroupName="orders-params", Source="user")["Parameters"]
assert {p["ParameterName"]: p["ParameterValue"] for p in user} == {"max_connections": "50", "statement_timeout": "900"}, user
copied = rds.copy_db_cluster_parameter_group(
    SourceDBClusterParameterGroupIdentifier="orders-params", TargetDBClusterParameterGroupIdentifier="orders-params-2",
    TargetDBClusterParameterGroupDescription="copy")["DBClusterParameterGroup"]
assert copied["DBParameterGroupFamily"] == "aurora-postgresql16", copied
rds.reset_db_cluster_parameter_group(DBClusterParameterGroupName="orders-params-2", ResetAllParameters=True)
assert rds.describe_db_cluster_parameters(DBClusterParameterGroupName="orders-params-2", Source="user")["Parameters"] == []
rds.delete_db_cluster_parameter_group(DBClusterParameterGroupName="orders-params-2")
rds.modify_db_cluster(DBClusterIdentifier="orders", DBClusterParameterGroupName="orders-params", ApplyImmediately=True)
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)
shown = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
assert shown["DBClusterParameterGroup"] == "orders-params", shown
assert {m["DBClusterParameterGroupStatus"] for m in shown["DBClusterMembers"]} == {"pending-reboot"}, shown
fails("InvalidDBParameterGroupState", rds.delete_db_cluster_parameter_group, DBClusterParameterGroupName="orders-params")
rebooting = rds.reboot_db_cluster(DBClusterIdentifier="orders")["DBCluster"]
assert rebooting["Status"] == "rebooting", rebooting
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)
shown = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
assert {m["DBClusterParameterGroupStatus"] for m in shown["DBClusterMembers"]} == {"in-sync"}, shown
fails("InvalidParameterCombination", rds.modify_db_cluster, DBClusterIdentifier="sessions",
      DBClusterParameterGroupName="orders-params", ApplyImmediately=True)

# A Multi-AZ DB cluster: postgres with a class and storage, a writer and two readable standbys of
# its own in three zones; no instance joins or leaves it on its own; it fails over; it goes whole.
made_maz = rds.create_db_cluster(DBClusterIdentifier="ledger", DBClusterInstanceClass="db.m5d.large",
                                 AllocatedStorage=100, StorageType="io1", Iops=1000, **maz)["DBCluster"]
assert made_maz["MultiAZ"] is True and made_maz["DBClusterInstanceClass"] == "db.m5d.large", made_maz
assert (made_maz["AllocatedStorage"], made_maz["StorageType"], made_maz["Iops"]) == (100, "io1", 1000), made_maz
assert made_maz["DBClusterParameterGroup"].startswith("default.postgres"), made_maz
maz_members = made_maz["DBClusterMembers"]
assert sorted(m["DBInstanceIdentifier"] for m in maz_members) == ["ledger-instance-1", "ledger-instance-2",
                                                                   "ledger-instance-3"], made_maz
assert [m["IsClusterWriter"] for m in maz_members].count(True) == 1, made_maz
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="ledger", WaiterConfig=FAST)
for n in (1, 2, 3):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=f"ledger-instance-{n}", WaiterConfig=FAST)
placed = rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["ledger"]}])["DBInstances"]
assert len({i["AvailabilityZone"] for i in placed}) == 3, placed
assert {(i["Engine"], i["DBInstanceClass"], i["AllocatedStorage"]) for i in placed} == {("postgres", "db.m5d.large", 100)}
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="ledger-4", DBClusterIdentifier="ledger",
      Engine="postgres", DBInstanceClass="db.m5d.large")
fails("InvalidDBClusterStateFault", rds.delete_db_instance, DBInstanceIdentifier="ledger-instance-2")
grown = rds.modify_db_cluster(DBClusterIdentifier="ledger", AllocatedStorage=200, Iops=3000,
                              DBClusterInstanceClass="db.r6gd.xlarge", ApplyImmediately=True)["DBCluster"]
assert (grown["AllocatedStorage"], grown["Iops"], grown["DBClusterInstanceClass"]) == (200, 3000, "db.r6gd.xlarge"), grown
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="ledger", WaiterConfig=FAST)
fails("InvalidParameterValue", rds.modify_db_cluster, DBClusterIdentifier="ledger", AllocatedStorage=150,
      ApplyImmediately=True)
fails("InvalidParameterCombination", rds.modify_db_cluster, DBClusterIdentifier="orders", AllocatedStorage=150,
      ApplyImmediately=True)
assert {i["DBInstanceClass"] for i in rds.describe_db_instances(
    Filters=[{"Name": "db-cluster-id", "Values": ["ledger"]}])["DBInstances"]} == {"db.r6gd.xlarge"}
before = next(m["DBInstanceIdentifier"] for m in rds.describe_db_clusters(DBClusterIdentifier="ledger")["DBClusters"][0]
              ["DBClusterMembers"] if m["IsClusterWriter"])
rds.failover_db_cluster(DBClusterIdentifier="ledger")
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="ledger", WaiterConfig=FAST)
after = next(m["DBInstanceIdentifier"] for m in rds.describe_db_clusters(DBClusterIdentifier="ledger")["DBClusters"][0]
             ["DBClusterMembers"] if m["IsClusterWriter"])
assert after != before, (before, after)
rds.delete_db_cluster(DBClusterIdentifier="ledger", SkipFinalSnapshot=True)
for n in (1, 2, 3):
    rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=f"ledger-instance-{n}", WaiterConfig=FAST)
rds.get_waiter("db_cluster_deleted").wait(DBClusterIdentifier="ledger", WaiterConfig=FAST)

# Point-in-time restore: RDS's window and parameter rules; the latest restorable time.
shown = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
assert shown["EarliestRestorableTime"] <= shown["LatestRestorableTime"], shown
fails("InvalidRestoreFault", rds.restore_db_cluster_to_point_in_time, DBClusterIdentifier="orders-then",
      SourceDBClusterIdentifier="orders", RestoreToTime=datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc))
fails("InvalidParameterCombination", rds.restore_db_cluster_to_point_in_time, DBClusterIdentifier="orders-then",
      SourceDBClusterIdentifier="orders", RestoreToTime=shown["LatestRestorableTime"], UseLatestRestorableTime=True)
fails("DBClusterNotFoundFault", rds.restore_db_cluster_to_point_in_time, DBClusterIdentifier="orders-then",
      SourceDBClusterIdentifier="nope", UseLatestRestorableTime=True)
latest = rds.restore_db_cluster_to_point_in_time(DBClusterIdentifier="orders-latest", SourceDBClusterIdentifier="orders",
                                                 UseLatestRestorableTime=True)["DBCluster"]
assert latest["Status"] == "creating" and latest["DBClusterParameterGroup"] == "orders-params", latest
rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="orders-latest", WaiterConfig=FAST)
rds.delete_db_cluster(DBClusterIdentifier="orders-latest", SkipFinalSnapshot=True)

# Deleting the writer hands writing to a reader; an empty cluster can go.
new_writer = writer_of()
rds.delete_db_instance(DBInstanceIdentifier=new_writer)
assert writer_of() != new_writer, members()
for name in ("orders-1", "orders-2", "orders-3", "orders-sv2"):
    if name != new_writer:
        rds.delete_db_instance(DBInstanceIdentifier=name)
for name in ("orders-1", "orders-2", "orders-3", "orders-sv2"):
    rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=name, WaiterConfig=FAST)
assert members() == {}, members()

# Deletion: a final snapshot is required unless skipped (cluster snapshots are not built yet).
fails("InvalidParameterCombination", rds.delete_db_cluster, DBClusterIdentifier="sessions")
fails("InvalidParameterCombination", rds.delete_db_cluster, DBClusterIdentifier="sessions",
      SkipFinalSnapshot=True, FinalDBSnapshotIdentifier="last")
gone = rds.delete_db_cluster(DBClusterIdentifier="sessions", FinalDBSnapshotIdentifier="sessions-final")["DBCluster"]
assert gone["Status"] == "deleting", gone
final = rds.describe_db_cluster_snapshots(DBClusterIdentifier="sessions")["DBClusterSnapshots"]
assert [(s["DBClusterSnapshotIdentifier"], s["SnapshotType"], s["Engine"]) for s in final] == \
    [("sessions-final", "manual", "aurora-mysql")], final
rds.get_waiter("db_cluster_snapshot_available").wait(DBClusterSnapshotIdentifier="sessions-final", WaiterConfig=FAST)
fails("DBClusterSnapshotAlreadyExistsFault", rds.create_db_cluster_snapshot, DBClusterIdentifier="orders",
      DBClusterSnapshotIdentifier="sessions-final")
fails("DBClusterSnapshotNotFoundFault", rds.describe_db_cluster_snapshots, DBClusterSnapshotIdentifier="nope")
# A copy, and sharing by the restore attribute.
copy = rds.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier="sessions-final",
                                    TargetDBClusterSnapshotIdentifier="sessions-copy", CopyTags=True)["DBClusterSnapshot"]
assert copy["Status"] == "creating" and copy["SourceDBClusterSnapshotArn"].endswith(":cluster-snapshot:sessions-final"), copy
rds.get_waiter("db_cluster_snapshot_available").wait(DBClusterSnapshotIdentifier="sessions-copy", WaiterConfig=FAST)
fails("DBClusterSnapshotAlreadyExistsFault", rds.copy_db_cluster_snapshot,
      SourceDBClusterSnapshotIdentifier="sessions-final", TargetDBClusterSnapshotIdentifier="sessions-copy")
shared = rds.modify_db_cluster_snapshot_attribute(DBClusterSnapshotIdentifier="sessions-copy", AttributeName="restore",
                                                  ValuesToAdd=["123456789012"])["DBClusterSnapshotAttributesResult"]
assert shared["DBClusterSnapshotAttributes"] == [{"AttributeName": "restore", "AttributeValues": ["123456789012"]}], shared
fails("InvalidParameterValue", rds.modify_db_cluster_snapshot_attribute, DBClusterSnapshotIdentifier="sessions-copy",
      AttributeName="restore", ValuesToAdd=["nobody"])
attributes = rds.describe_db_cluster_snapshot_attributes(DBClusterSnapshotIdentifier="sessions-copy")
assert attributes["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"][0]["AttributeValues"] == \
    ["123456789012"], attributes
rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="sessions-copy")
rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="sessions-final")
fails("DBClusterSnapshotNotFoundFault", rds.delete_db_cluster_snapshot, DBClusterSnapshotIdentifier="sessions-final")
rds.get_waiter("db_cluster_deleted").wait(DBClusterIdentifier="sessions", WaiterConfig=FAST)
fails("DBClusterNotFoundFault", rds.describe_db_clusters, DBClusterIdentifier="sessions")
events = [e["Message"] for e in rds.describe_events(SourceType="db-cluster", SourceIdentifier="orders")["Events"]]
assert events[0] == "DB cluster created" and "DB cluster stopped" in events and "DB cluster started" in events, events
rds.delete_db_cluster(DBClusterIdentifier="orders", SkipFinalSnapshot=True)
rds.get_waiter("db_cluster_deleted").wait(DBClusterIdentifier="orders", WaiterConfig=FAST)

print("boto3 rds clusters: ok")
