"""Event subscriptions, DB security groups and StopDBInstance with a snapshot, through boto3
against the squall at argv[1]: RDS's rules and codes, statuses that settle by themselves, and
the events a subscription published (read back from GET /_squall/rds/notifications).

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

from common import FAST, client, fails, fault_api

endpoint = sys.argv[1]
rds = client("rds", endpoint)
ec2 = client("ec2", endpoint)
TOPIC = "arn:aws:sns:us-east-1:000000000000:db-alerts"


def settle(read, want, what):
    """Polls `read()` until it answers `want` (statuses advance by themselves)."""
    got = None
    for _ in range(100):
        got = read()
        if got == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: wanted {want}, still {got}")


# --- DB security groups (EC2-Classic's) ------------------------------------------------------
made = rds.create_db_security_group(DBSecurityGroupName="Legacy", DBSecurityGroupDescription="old app",
                                    Tags=[{"Key": "team", "Value": "ops"}])["DBSecurityGroup"]
assert made["DBSecurityGroupName"] == "legacy" and made["IPRanges"] == [] and made["EC2SecurityGroups"] == [], made
assert made["DBSecurityGroupArn"] == "arn:aws:rds:us-east-1:000000000000:secgrp:legacy", made
assert made["OwnerId"] == "000000000000", made
assert rds.list_tags_for_resource(ResourceName=made["DBSecurityGroupArn"])["TagList"] == [
    {"Key": "team", "Value": "ops"}]
fails("DBSecurityGroupAlreadyExists", rds.create_db_security_group, DBSecurityGroupName="legacy",
      DBSecurityGroupDescription="again")
fails("InvalidParameterValue", rds.create_db_security_group, DBSecurityGroupName="default",
      DBSecurityGroupDescription="x")
fails("InvalidParameterValue", rds.create_db_security_group, DBSecurityGroupName="bad--name",
      DBSecurityGroupDescription="x")
fails("DBSecurityGroupNotFound", rds.describe_db_security_groups, DBSecurityGroupName="nope")

ranges = rds.authorize_db_security_group_ingress(DBSecurityGroupName="legacy", CIDRIP="10.1.0.0/16")
assert ranges["DBSecurityGroup"]["IPRanges"] == [{"Status": "authorizing", "CIDRIP": "10.1.0.0/16"}], ranges


def range_statuses():
    (g,) = rds.describe_db_security_groups(DBSecurityGroupName="legacy")["DBSecurityGroups"]
    return [(r["CIDRIP"], r["Status"]) for r in g["IPRanges"]]


settle(range_statuses, [("10.1.0.0/16", "authorized")], "a CIDR authorization")
fails("AuthorizationAlreadyExists", rds.authorize_db_security_group_ingress, DBSecurityGroupName="legacy",
      CIDRIP="10.1.0.0/16")
fails("InvalidParameterValue", rds.authorize_db_security_group_ingress, DBSecurityGroupName="legacy",
      CIDRIP="10.1.0.0/40")
fails("InvalidParameterCombination", rds.authorize_db_security_group_ingress, DBSecurityGroupName="legacy",
      CIDRIP="10.2.0.0/16", EC2SecurityGroupName="web")
fails("InvalidParameterCombination", rds.authorize_db_security_group_ingress, DBSecurityGroupName="legacy")
fails("DBSecurityGroupNotFound", rds.authorize_db_security_group_ingress, DBSecurityGroupName="nope",
      CIDRIP="10.1.0.0/16")

# An EC2 security group of this account is checked against EC2 and shown with its id and name.
web = ec2.create_security_group(GroupName="web", Description="web tier")["GroupId"]
fails("InvalidParameterValue", rds.authorize_db_security_group_ingress, DBSecurityGroupName="legacy",
      EC2SecurityGroupId="sg-0123456789abcdef0")
g = rds.authorize_db_security_group_ingress(DBSecurityGroupName="legacy", EC2SecurityGroupName="web")
(grant,) = g["DBSecurityGroup"]["EC2SecurityGroups"]
assert grant == {"Status": "authorizing", "EC2SecurityGroupName": "web", "EC2SecurityGroupId": web,
                 "EC2SecurityGroupOwnerId": "000000000000"}, grant

revoked = rds.revoke_db_security_group_ingress(DBSecurityGroupName="legacy", CIDRIP="10.1.0.0/16")
assert revoked["DBSecurityGroup"]["IPRanges"] == [{"Status": "revoking", "CIDRIP": "10.1.0.0/16"}], revoked
settle(range_statuses, [], "a revocation")
fails("AuthorizationNotFound", rds.revoke_db_security_group_ingress, DBSecurityGroupName="legacy",
      CIDRIP="10.1.0.0/16")
rds.revoke_db_security_group_ingress(DBSecurityGroupName="legacy", EC2SecurityGroupId=web)

# DB instances squall runs are in a VPC, where RDS refuses DB security groups.
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="classic", Engine="postgres",
      DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-pw-1",
      DBSecurityGroups=["legacy"])
rds.delete_db_security_group(DBSecurityGroupName="LEGACY")
fails("DBSecurityGroupNotFound", rds.delete_db_security_group, DBSecurityGroupName="legacy")
assert rds.describe_db_security_groups()["DBSecurityGroups"] == []

# --- Event subscriptions ---------------------------------------------------------------------
rds.create_db_instance(DBInstanceIdentifier="orders", Engine="postgres", DBInstanceClass="db.t3.micro",
                       AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-pw-1")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=FAST)
rds.create_db_instance(DBInstanceIdentifier="users", Engine="postgres", DBInstanceClass="db.t3.micro",
                       AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="secret-pw-1")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="users", WaiterConfig=FAST)

fails("SNSInvalidTopic", rds.create_event_subscription, SubscriptionName="ops", SnsTopicArn="db-alerts")
fails("SNSInvalidTopic", rds.create_event_subscription, SubscriptionName="ops",
      SnsTopicArn="arn:aws:sqs:us-east-1:000000000000:db-alerts")
fails("InvalidParameterValue", rds.create_event_subscription, SubscriptionName="ops", SnsTopicArn=TOPIC,
      SourceType="db-volume")
fails("SubscriptionCategoryNotFound", rds.create_event_subscription, SubscriptionName="ops", SnsTopicArn=TOPIC,
      SourceType="db-snapshot", EventCategories=["failover"])
fails("SourceNotFound", rds.create_event_subscription, SubscriptionName="ops", SnsTopicArn=TOPIC,
      SourceType="db-instance", SourceIds=["nope"])
sub = rds.create_event_subscription(
    SubscriptionName="Ops", SnsTopicArn=TOPIC, SourceType="db-instance", EventCategories=["availability"],
    SourceIds=["orders"], Tags=[{"Key": "team", "Value": "ops"}],
)["EventSubscription"]
assert sub["CustSubscriptionId"] == "ops" and sub["Status"] == "creating" and sub["Enabled"] is True, sub
assert sub["SourceIdsList"] == ["orders"] and sub["EventCategoriesList"] == ["availability"], sub
assert sub["EventSubscriptionArn"] == "arn:aws:rds:us-east-1:000000000000:es:ops", sub
assert sub["CustomerAwsId"] == "000000000000" and sub["SnsTopicArn"] == TOPIC, sub
assert rds.list_tags_for_resource(ResourceName=sub["EventSubscriptionArn"])["TagList"] == [
    {"Key": "team", "Value": "ops"}]
fails("SubscriptionAlreadyExist", rds.create_event_subscription, SubscriptionName="ops", SnsTopicArn=TOPIC)
settle(lambda: rds.describe_event_subscriptions(SubscriptionName="ops")["EventSubscriptionsList"][0]["Status"],
       "active", "a new subscription")
fails("SubscriptionNotFound", rds.describe_event_subscriptions, SubscriptionName="nope")


def published():
    status, body = fault_api(endpoint, "GET", "/_squall/rds/notifications")
    assert status == 200, body
    return body["notifications"]


# A reboot of the subscribed instance is published; one of another instance is not.
rds.reboot_db_instance(DBInstanceIdentifier="orders")
rds.reboot_db_instance(DBInstanceIdentifier="users")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=FAST)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="users", WaiterConfig=FAST)
notes = published()
assert [(n["subscription"], n["message"]["Source ID"], n["message"]["Event Message"]) for n in notes] == [
    ("ops", "orders", "DB instance restarted")], notes
(note,) = notes
assert note["topicArn"] == TOPIC and note["message"]["Event Source"] == "db-instance", note
assert note["message"]["Source ARN"] == "arn:aws:rds:us-east-1:000000000000:db:orders", note
assert note["message"]["Event ID"].endswith("#RDS-EVENT-0006"), note

# Source ids come and go; categories and the switch change what is published from then on.
rds.add_source_identifier_to_subscription(SubscriptionName="ops", SourceIdentifier="users")
fails("SourceNotFound", rds.add_source_identifier_to_subscription, SubscriptionName="ops", SourceIdentifier="nope")
fails("SubscriptionNotFound", rds.add_source_identifier_to_subscription, SubscriptionName="nope",
      SourceIdentifier="users")
sub = rds.remove_source_identifier_from_subscription(SubscriptionName="ops", SourceIdentifier="orders")
assert sub["EventSubscription"]["SourceIdsList"] == ["users"], sub
fails("SourceNotFound", rds.remove_source_identifier_from_subscription, SubscriptionName="ops",
      SourceIdentifier="orders")
rds.reboot_db_instance(DBInstanceIdentifier="orders")
rds.reboot_db_instance(DBInstanceIdentifier="users")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig=FAST)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="users", WaiterConfig=FAST)
assert [n["message"]["Source ID"] for n in published()] == ["orders", "users"], published()

modified = rds.modify_event_subscription(SubscriptionName="ops", Enabled=False)["EventSubscription"]
assert modified["Enabled"] is False and modified["Status"] == "modifying", modified
fails("SubscriptionCategoryNotFound", rds.modify_event_subscription, SubscriptionName="ops",
      EventCategories=["serverless"])
rds.reboot_db_instance(DBInstanceIdentifier="users")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="users", WaiterConfig=FAST)
assert len(published()) == 2, "a disabled subscription publishes nothing; what it published stays"

# A subscription to every snapshot event, then StopDBInstance with a snapshot taken first.
rds.create_event_subscription(SubscriptionName="snaps", SnsTopicArn=TOPIC, SourceType="db-snapshot")
stopped = rds.stop_db_instance(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-before-stop")
assert stopped["DBInstance"]["DBInstanceStatus"] == "stopping", stopped
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="orders-before-stop", WaiterConfig=FAST)
(snap,) = rds.describe_db_snapshots(DBSnapshotIdentifier="orders-before-stop")["DBSnapshots"]
assert snap["DBInstanceIdentifier"] == "orders" and snap["SnapshotType"] == "manual", snap
settle(lambda: rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]["DBInstanceStatus"],
       "stopped", "the stopped instance")
fails("DBSnapshotAlreadyExists", rds.stop_db_instance, DBInstanceIdentifier="users",
      DBSnapshotIdentifier="orders-before-stop")
assert rds.describe_db_instances(DBInstanceIdentifier="users")["DBInstances"][0]["DBInstanceStatus"] == "available"
snapshot_notes = [n["message"]["Event Message"] for n in published() if n["subscription"] == "snaps"]
assert snapshot_notes == ["Creating manual snapshot", "Manual snapshot created"], snapshot_notes

listed = rds.describe_event_subscriptions(MaxRecords=20)["EventSubscriptionsList"]
assert [s["CustSubscriptionId"] for s in listed] == ["ops", "snaps"], listed
gone = rds.delete_event_subscription(SubscriptionName="ops")["EventSubscription"]
assert gone["Status"] == "deleting", gone
fails("SubscriptionNotFound", rds.delete_event_subscription, SubscriptionName="ops")
print("boto3 rds subscriptions: ok")
