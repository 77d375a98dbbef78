"""RDS Proxy as metadata, with boto3 against the squall at argv[1]: a proxy with its Secrets
Manager authentication, subnets and role, statuses that advance, the default target group and
its connection pool, an instance and an Aurora cluster registered as targets with their health
and roles, proxy endpoints (read-write and read-only, beside the default one), renaming and
deletion, with RDS's codes.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

from common import FAST, client, fails

rds = client("rds", sys.argv[1])
ec2 = client("ec2", sys.argv[1])
sm = client("secretsmanager", sys.argv[1])

subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]]
secret = sm.create_secret(Name="proxy-app", SecretString='{"username":"app","password":"s3cret-pass"}')["ARN"]
role = "arn:aws:iam::000000000000:role/rds-proxy"
auth = [{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "DISABLED"}]


def wait_status(name, status):
    for _ in range(100):
        p = rds.describe_db_proxies(DBProxyName=name)["DBProxies"][0]
        if p["Status"] == status:
            return p
        time.sleep(0.1)
    raise AssertionError(f"{name} never became {status}")


made = rds.create_db_proxy(DBProxyName="Front", EngineFamily="POSTGRESQL", Auth=auth, RoleArn=role,
                           VpcSubnetIds=subnets[:2], RequireTLS=True,
                           Tags=[{"Key": "team", "Value": "payments"}])["DBProxy"]
assert made["DBProxyName"] == "front" and made["Status"] == "creating" and made["EngineFamily"] == "POSTGRESQL"
assert made["RequireTLS"] is True and made["IdleClientTimeout"] == 1800 and made["VpcSubnetIds"] == subnets[:2]
assert made["Auth"][0]["SecretArn"] == secret and made["DBProxyArn"].startswith("arn:aws:rds:us-east-1:"), made
fails("DBProxyAlreadyExistsFault", rds.create_db_proxy, DBProxyName="front", EngineFamily="POSTGRESQL",
      Auth=auth, RoleArn=role, VpcSubnetIds=subnets[:2])
fails("InvalidParameterValue", rds.create_db_proxy, DBProxyName="p2", EngineFamily="POSTGRESQL", Auth=auth,
      RoleArn="arn:aws:s3:::not-a-role-at-all", VpcSubnetIds=subnets[:2])
fails("InvalidSubnet", rds.create_db_proxy, DBProxyName="p2", EngineFamily="POSTGRESQL", Auth=auth,
      RoleArn=role, VpcSubnetIds=["subnet-00000000000000000", subnets[0]])
fails("DBProxyNotFoundFault", rds.describe_db_proxies, DBProxyName="nope")
fails("InvalidDBProxyStateFault", rds.register_db_proxy_targets, DBProxyName="front", DBInstanceIdentifiers=["x"])
wait_status("front", "available")

(group,) = rds.describe_db_proxy_target_groups(DBProxyName="front")["TargetGroups"]
assert group["TargetGroupName"] == "default" and group["IsDefault"] is True, group
assert group["ConnectionPoolConfig"]["MaxConnectionsPercent"] == 100, group
pool = rds.modify_db_proxy_target_group(DBProxyName="front", TargetGroupName="default",
                                        ConnectionPoolConfig={"MaxConnectionsPercent": 80,
                                                              "MaxIdleConnectionsPercent": 40})["DBProxyTargetGroup"]
assert pool["ConnectionPoolConfig"]["MaxConnectionsPercent"] == 80, pool
fails("InvalidParameterValue", rds.modify_db_proxy_target_group, DBProxyName="front", TargetGroupName="default",
      ConnectionPoolConfig={"MaxConnectionsPercent": 10, "MaxIdleConnectionsPercent": 40})
fails("DBProxyTargetGroupNotFoundFault", rds.describe_db_proxy_target_groups, DBProxyName="front",
      TargetGroupName="other")

# Targets: a PostgreSQL instance; a MySQL one is refused; then the targets' health.
rds.create_db_instance(DBInstanceIdentifier="orders", DBInstanceClass="db.t3.micro", Engine="postgres",
                       AllocatedStorage=20, MasterUsername="app", MasterUserPassword="s3cret-pass",
                       Port=int(sys.argv[2]))
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=FAST)
fails("DBInstanceNotFound", rds.register_db_proxy_targets, DBProxyName="front", DBInstanceIdentifiers=["nobody"])
registered = rds.register_db_proxy_targets(DBProxyName="front", DBInstanceIdentifiers=["orders"])["DBProxyTargets"]
assert [(t["RdsResourceId"], t["Type"], t["TargetHealth"]["State"]) for t in registered] == \
    [("orders", "RDS_INSTANCE", "AVAILABLE")], registered
fails("DBProxyTargetAlreadyRegisteredFault", rds.register_db_proxy_targets, DBProxyName="front",
      DBInstanceIdentifiers=["orders"])
rds.deregister_db_proxy_targets(DBProxyName="front", DBInstanceIdentifiers=["orders"])
assert rds.describe_db_proxy_targets(DBProxyName="front")["Targets"] == []
fails("DBProxyTargetNotFoundFault", rds.deregister_db_proxy_targets, DBProxyName="front",
      DBInstanceIdentifiers=["orders"])

# An Aurora cluster as the target: a tracked cluster and its instances, writer read-write.
rds.create_db_cluster(DBClusterIdentifier="ledger", Engine="aurora-postgresql", MasterUsername="app",
                      MasterUserPassword="s3cret-pass", Port=int(sys.argv[3]))
for name in ("ledger-1", "ledger-2"):
    rds.create_db_instance(DBInstanceIdentifier=name, DBClusterIdentifier="ledger", Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=name, WaiterConfig=FAST)
rds.register_db_proxy_targets(DBProxyName="front", DBClusterIdentifiers=["ledger"])
targets = rds.describe_db_proxy_targets(DBProxyName="front")["Targets"]
kinds = sorted((t["Type"], t.get("RdsResourceId", t.get("TrackedClusterId")), t.get("Role")) for t in targets)
assert kinds == [("RDS_INSTANCE", "ledger-1", "READ_WRITE"), ("RDS_INSTANCE", "ledger-2", "READ_ONLY"),
                 ("TRACKED_CLUSTER", "ledger", None)], kinds

# Endpoints besides the default one: read-write and (with a cluster target) read-only ones, in
# subnets of the VPC, listed with the default; rename, tags, delete.
listed = rds.describe_db_proxy_endpoints(DBProxyName="front")["DBProxyEndpoints"]
assert [(e["DBProxyEndpointName"], e["IsDefault"], e["TargetRole"]) for e in listed] == \
    [("default", True, "READ_WRITE")], listed
reader = rds.create_db_proxy_endpoint(DBProxyName="front", DBProxyEndpointName="Front-RO", VpcSubnetIds=subnets[:2],
                                      TargetRole="READ_ONLY", Tags=[{"Key": "tier", "Value": "read"}])["DBProxyEndpoint"]
assert reader["DBProxyEndpointName"] == "front-ro" and reader["Status"] == "creating" and not reader["IsDefault"], reader
assert reader["TargetRole"] == "READ_ONLY" and ":db-proxy-endpoint:prx-endpoint-" in reader["DBProxyEndpointArn"], reader
fails("DBProxyEndpointAlreadyExistsFault", rds.create_db_proxy_endpoint, DBProxyName="front",
      DBProxyEndpointName="front-ro", VpcSubnetIds=subnets[:2])
fails("InvalidSubnet", rds.create_db_proxy_endpoint, DBProxyName="front", DBProxyEndpointName="bad",
      VpcSubnetIds=["subnet-00000000000000000", subnets[0]])
fails("DBProxyNotFoundFault", rds.create_db_proxy_endpoint, DBProxyName="nobody", DBProxyEndpointName="x",
      VpcSubnetIds=subnets[:2])
for _ in range(100):
    shown = rds.describe_db_proxy_endpoints(DBProxyEndpointName="front-ro")["DBProxyEndpoints"][0]
    if shown["Status"] == "available":
        break
    time.sleep(0.1)
assert shown["Status"] == "available", shown
assert rds.list_tags_for_resource(ResourceName=reader["DBProxyEndpointArn"])["TagList"] == [{"Key": "tier", "Value": "read"}]
moved = rds.modify_db_proxy_endpoint(DBProxyEndpointName="front-ro", NewDBProxyEndpointName="front-read")
assert moved["DBProxyEndpoint"]["DBProxyEndpointName"] == "front-read", moved
fails("DBProxyEndpointNotFoundFault", rds.describe_db_proxy_endpoints, DBProxyEndpointName="front-ro")
assert len(rds.describe_db_proxy_endpoints(DBProxyName="front")["DBProxyEndpoints"]) == 2
for _ in range(100):
    if rds.describe_db_proxy_endpoints(DBProxyEndpointName="front-read")["DBProxyEndpoints"][0]["Status"] == "available":
        break
    time.sleep(0.1)
assert rds.delete_db_proxy_endpoint(DBProxyEndpointName="front-read")["DBProxyEndpoint"]["Status"] == "deleting"
for _ in range(100):
    if len(rds.describe_db_proxy_endpoints(DBProxyName="front")["DBProxyEndpoints"]) == 1:
        break
    time.sleep(0.1)
assert len(rds.describe_db_proxy_endpoints(DBProxyName="front")["DBProxyEndpoints"]) == 1

# Modify (rename, timeout), tags by ARN, delete.
renamed = rds.modify_db_proxy(DBProxyName="front", NewDBProxyName="edge", IdleClientTimeout=600)["DBProxy"]
assert renamed["DBProxyName"] == "edge" and renamed["IdleClientTimeout"] == 600 and renamed["Status"] == "modifying"
fails("DBProxyNotFoundFault", rds.describe_db_proxies, DBProxyName="front")
wait_status("edge", "available")
tags = rds.list_tags_for_resource(ResourceName=renamed["DBProxyArn"])["TagList"]
assert tags == [{"Key": "team", "Value": "payments"}], tags
assert rds.delete_db_proxy(DBProxyName="edge")["DBProxy"]["Status"] == "deleting"
for _ in range(100):
    if not rds.describe_db_proxies()["DBProxies"]:
        break
    time.sleep(0.1)
assert rds.describe_db_proxies()["DBProxies"] == []

print("boto3 rds proxies: ok")
