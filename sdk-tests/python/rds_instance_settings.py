"""The settings of a DB instance that Terraform and SDK users set on every instance — VPC security
groups from EC2, storage autoscaling, enhanced monitoring, IAM authentication, Performance
Insights, the certificate authority, the KMS key, gp3 throughput, CloudWatch log exports — with
RDS's rules and codes, through boto3 against the squall at argv[1].

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

from common import FAST, client, fails

endpoint = sys.argv[1]
rds = client("rds", endpoint)
ec2 = client("ec2", endpoint)
fast = FAST
ROLE = "arn:aws:iam::000000000000:role/rds-monitoring"


default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
default_sg = ec2.describe_security_groups(
    Filters=[{"Name": "vpc-id", "Values": [default_vpc]}, {"Name": "group-name", "Values": ["default"]}]
)["SecurityGroups"][0]["GroupId"]
db_sg = ec2.create_security_group(GroupName="db", Description="database", VpcId=default_vpc)["GroupId"]
other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
elsewhere_sg = ec2.create_security_group(GroupName="db", Description="elsewhere", VpcId=other_vpc)["GroupId"]

base = dict(
    Engine="postgres",
    DBInstanceClass="db.t3.micro",
    AllocatedStorage=20,
    MasterUsername="app",
    MasterUserPassword="correct-horse",
)

# ---- what CreateDBInstance refuses ------------------------------------------------------------
msg = fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base,
            VpcSecurityGroupIds=[elsewhere_sg])
assert msg == (f"The DB instance and EC2 security group are in different VPCs. The DB instance is in {default_vpc} "
               f"and the EC2 security group is in {other_vpc}"), msg
fails("InvalidParameterValue", rds.create_db_instance, DBInstanceIdentifier="x", **base,
      VpcSecurityGroupIds=["sg-0123456789abcdef0"])
msg = fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base,
            MonitoringInterval=60)
assert msg == "A MonitoringRoleARN value is required if you specify a MonitoringInterval value other than 0.", msg
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base, MonitoringRoleArn=ROLE)
fails("InvalidParameterValue", rds.create_db_instance, DBInstanceIdentifier="x", **base, MonitoringInterval=7,
      MonitoringRoleArn=ROLE)
fails("InvalidParameterValue", rds.create_db_instance, DBInstanceIdentifier="x", **base, MonitoringInterval=60,
      MonitoringRoleArn="not-an-arn")
fails("CertificateNotFound", rds.create_db_instance, DBInstanceIdentifier="x", **base,
      CACertificateIdentifier="rds-ca-nope")
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base, MaxAllocatedStorage=20)
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base,
      KmsKeyId="arn:aws:kms:us-east-1:000000000000:key/1234")
msg = fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base,
            EnableCloudwatchLogsExports=["postgresql", "audit"])
assert "'audit'" in msg, msg
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base, StorageThroughput=600)
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x",
      **{**base, "StorageType": "gp3"}, StorageThroughput=600)
fails("InvalidParameterValue", rds.create_db_instance, DBInstanceIdentifier="x", **base,
      EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=10)
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base,
      DBSecurityGroups=["classic"])
# RDS makes a managed password: one given beside it is refused.
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="x", **base,
      ManageMasterUserPassword=True)
assert rds.describe_db_instances()["DBInstances"] == [], "a refused create left an instance behind"

# ---- an instance with all of them ---------------------------------------------------------------
made = rds.create_db_instance(
    DBInstanceIdentifier="tuned",
    **{**base, "AllocatedStorage": 400, "StorageType": "gp3"},
    VpcSecurityGroupIds=[db_sg, db_sg],
    MaxAllocatedStorage=1000,
    MonitoringInterval=60,
    MonitoringRoleArn=ROLE,
    EnableIAMDatabaseAuthentication=True,
    EnablePerformanceInsights=True,
    CACertificateIdentifier="rds-ca-rsa4096-g1",
    StorageEncrypted=True,
    KmsKeyId="arn:aws:kms:us-east-1:000000000000:key/1234abcd",
    StorageThroughput=1000,
    EnableCloudwatchLogsExports=["upgrade", "postgresql"],
)["DBInstance"]
assert made["VpcSecurityGroups"] == [{"VpcSecurityGroupId": db_sg, "Status": "active"}], made["VpcSecurityGroups"]
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="tuned", WaiterConfig=fast)
db = rds.describe_db_instances(DBInstanceIdentifier="tuned")["DBInstances"][0]
assert db["MaxAllocatedStorage"] == 1000, db
assert db["MonitoringInterval"] == 60 and db["MonitoringRoleArn"] == ROLE, db
assert db["EnhancedMonitoringResourceArn"].endswith(f"log-stream:{db['DbiResourceId']}"), db
assert db["IAMDatabaseAuthenticationEnabled"] is True, db
assert db["PerformanceInsightsEnabled"] is True and db["PerformanceInsightsRetentionPeriod"] == 7, db
assert db["CACertificateIdentifier"] == "rds-ca-rsa4096-g1", db
assert db["CertificateDetails"]["CAIdentifier"] == "rds-ca-rsa4096-g1", db
assert db["StorageEncrypted"] is True and db["KmsKeyId"] == "arn:aws:kms:us-east-1:000000000000:key/1234abcd", db
assert db["StorageThroughput"] == 1000, db
assert db["EnabledCloudwatchLogsExports"] == ["postgresql", "upgrade"], db

# An instance that names no group is in its VPC's default group.
rds.create_db_instance(DBInstanceIdentifier="plain", **base)
plain = rds.describe_db_instances(DBInstanceIdentifier="plain")["DBInstances"][0]
assert plain["VpcSecurityGroups"] == [{"VpcSecurityGroupId": default_sg, "Status": "active"}], plain
assert plain["MonitoringInterval"] == 0 and "MonitoringRoleArn" not in plain, plain
assert plain["CACertificateIdentifier"] == "rds-ca-rsa2048-g1", plain
assert plain["IAMDatabaseAuthenticationEnabled"] is False and "KmsKeyId" not in plain, plain

# EC2 will not delete a group a DB instance uses.
fails("DependencyViolation", ec2.delete_security_group, GroupId=db_sg)

# ---- ModifyDBInstance changes them, with the same rules -----------------------------------------
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="tuned",
      VpcSecurityGroupIds=[elsewhere_sg], ApplyImmediately=True)
fails("CertificateNotFound", rds.modify_db_instance, DBInstanceIdentifier="tuned",
      CACertificateIdentifier="rds-ca-nope", ApplyImmediately=True)
rds.modify_db_instance(
    DBInstanceIdentifier="tuned",
    VpcSecurityGroupIds=[default_sg],
    MonitoringInterval=0,
    EnablePerformanceInsights=False,
    MaxAllocatedStorage=400,
    CloudwatchLogsExportConfiguration={"DisableLogTypes": ["upgrade"], "EnableLogTypes": []},
    ApplyImmediately=True,
)
db = rds.describe_db_instances(DBInstanceIdentifier="tuned")["DBInstances"][0]
assert db["VpcSecurityGroups"] == [{"VpcSecurityGroupId": default_sg, "Status": "active"}], db
assert db["MonitoringInterval"] == 0 and "MonitoringRoleArn" not in db, db
assert db["PerformanceInsightsEnabled"] is False, db
assert "MaxAllocatedStorage" not in db, "MaxAllocatedStorage equal to the storage turns autoscaling off"
assert db["EnabledCloudwatchLogsExports"] == ["postgresql"], db
ec2.delete_security_group(GroupId=db_sg)

# ---- roles for an engine's features ----------------------------------------------------------
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="plain", WaiterConfig=fast)
S3_ROLE = "arn:aws:iam::000000000000:role/rds-s3-import"
rds.add_role_to_db_instance(DBInstanceIdentifier="plain", RoleArn=S3_ROLE, FeatureName="s3Import")
roles = rds.describe_db_instances(DBInstanceIdentifier="plain")["DBInstances"][0]["AssociatedRoles"]
assert roles == [{"RoleArn": S3_ROLE, "FeatureName": "s3Import", "Status": "ACTIVE"}], roles
fails("DBInstanceRoleAlreadyExists", rds.add_role_to_db_instance, DBInstanceIdentifier="plain", RoleArn=S3_ROLE,
      FeatureName="s3Import")
fails("InvalidParameterValue", rds.add_role_to_db_instance, DBInstanceIdentifier="plain", RoleArn=ROLE,
      FeatureName="rocket")
fails("InvalidParameterValue", rds.add_role_to_db_instance, DBInstanceIdentifier="plain", RoleArn="not-a-role",
      FeatureName="s3Export")
fails("DBInstanceNotFound", rds.add_role_to_db_instance, DBInstanceIdentifier="nope", RoleArn=S3_ROLE,
      FeatureName="s3Export")
rds.remove_role_from_db_instance(DBInstanceIdentifier="plain", RoleArn=S3_ROLE, FeatureName="s3Import")
assert rds.describe_db_instances(DBInstanceIdentifier="plain")["DBInstances"][0]["AssociatedRoles"] == []
fails("DBInstanceRoleNotFound", rds.remove_role_from_db_instance, DBInstanceIdentifier="plain", RoleArn=S3_ROLE,
      FeatureName="s3Import")

# ---- what ModifyDBInstance would take ----------------------------------------------------------
valid = rds.describe_valid_db_instance_modifications(DBInstanceIdentifier="plain")["ValidDBInstanceModificationsMessage"]
(storage,) = valid["Storage"]
assert storage["StorageType"] == "gp2" and storage["StorageSize"] == [{"From": 20, "To": 399, "Step": 1}], storage
valid = rds.describe_valid_db_instance_modifications(DBInstanceIdentifier="tuned")["ValidDBInstanceModificationsMessage"]
assert valid["Storage"][0]["StorageSize"] == [{"From": 400, "To": 65536, "Step": 1}], valid

# ---- ModifyDBSubnetGroup keeps the zones and the VPC of the instances using the group -----------
subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in ec2.describe_subnets(
    Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"]}
rds.create_db_subnet_group(DBSubnetGroupName="pair", DBSubnetGroupDescription="two zones",
                           SubnetIds=[subnets["us-east-1a"], subnets["us-east-1b"]])
rds.create_db_instance(DBInstanceIdentifier="grouped", **base, DBSubnetGroupName="pair", AvailabilityZone="us-east-1a")
msg = fails("SubnetAlreadyInUse", rds.modify_db_subnet_group, DBSubnetGroupName="pair",
            SubnetIds=[subnets["us-east-1b"], subnets["us-east-1c"]])
assert subnets["us-east-1a"] in msg, msg
other_subnets = [ec2.create_subnet(VpcId=other_vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
                 for n, z in ((1, "us-east-1a"), (2, "us-east-1b"))]
fails("InvalidParameterValue", rds.modify_db_subnet_group, DBSubnetGroupName="pair", SubnetIds=other_subnets)
fails("DBSubnetGroupDoesNotCoverEnoughAZs", rds.modify_db_subnet_group, DBSubnetGroupName="pair",
      SubnetIds=[subnets["us-east-1a"]])
changed = rds.modify_db_subnet_group(DBSubnetGroupName="pair", DBSubnetGroupDescription="a and c",
                                     SubnetIds=[subnets["us-east-1a"], subnets["us-east-1c"]])["DBSubnetGroup"]
assert changed["DBSubnetGroupDescription"] == "a and c", changed
assert sorted(s["SubnetAvailabilityZone"]["Name"] for s in changed["Subnets"]) == ["us-east-1a", "us-east-1c"], changed
fails("InvalidParameterValue", rds.modify_db_subnet_group, DBSubnetGroupName="default",
      SubnetIds=[subnets["us-east-1a"], subnets["us-east-1c"]])
fails("DBSubnetGroupNotFoundFault", rds.modify_db_subnet_group, DBSubnetGroupName="nope",
      SubnetIds=[subnets["us-east-1a"], subnets["us-east-1c"]])

# ---- ModifyDBInstance DBSubnetGroupName: to another VPC, in the instance's zone -----------------
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="grouped", WaiterConfig=fast)
rds.create_db_subnet_group(DBSubnetGroupName="elsewhere", DBSubnetGroupDescription="the other VPC",
                           SubnetIds=other_subnets)
far_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.9.3.0/24", AvailabilityZone="us-east-1c")["Subnet"]
rds.create_db_subnet_group(DBSubnetGroupName="far", DBSubnetGroupDescription="b and c",
                           SubnetIds=[other_subnets[1], far_subnet["SubnetId"]])
msg = fails("NotImplemented", rds.modify_db_instance, DBInstanceIdentifier="grouped", DBSubnetGroupName="far",
            ApplyImmediately=True)
assert "us-east-1a" in msg, msg
fails("DBSubnetGroupNotFoundFault", rds.modify_db_instance, DBInstanceIdentifier="grouped",
      DBSubnetGroupName="nope", ApplyImmediately=True)
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="grouped",
      DBSubnetGroupName="elsewhere", VpcSecurityGroupIds=[default_sg], ApplyImmediately=True)
moved = rds.modify_db_instance(DBInstanceIdentifier="grouped", DBSubnetGroupName="elsewhere",
                               ApplyImmediately=True)["DBInstance"]
assert moved["DBInstanceStatus"] == "modifying", moved
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="grouped", WaiterConfig=fast)
moved = rds.describe_db_instances(DBInstanceIdentifier="grouped")["DBInstances"][0]
assert moved["DBSubnetGroup"]["DBSubnetGroupName"] == "elsewhere" and moved["DBSubnetGroup"]["VpcId"] == other_vpc, moved
assert moved["AvailabilityZone"] == "us-east-1a", moved
other_default = ec2.describe_security_groups(
    Filters=[{"Name": "vpc-id", "Values": [other_vpc]}, {"Name": "group-name", "Values": ["default"]}]
)["SecurityGroups"][0]["GroupId"]
assert [g["VpcSecurityGroupId"] for g in moved["VpcSecurityGroups"]] == [other_default], moved
rds.delete_db_instance(DBInstanceIdentifier="grouped", SkipFinalSnapshot=True)

# ---- engine upgrades and storage changes -------------------------------------------------------
rds.create_db_instance(DBInstanceIdentifier="old", **{**base, "EngineVersion": "15.7"})
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="old", WaiterConfig=fast)
msg = fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", EngineVersion="14",
            ApplyImmediately=True)
assert msg == "Cannot upgrade postgres from 15.7 to 14.13", msg
fails("InvalidParameterValue", rds.modify_db_instance, DBInstanceIdentifier="old", EngineVersion="15.99",
      ApplyImmediately=True)
msg = fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", EngineVersion="16",
            ApplyImmediately=True)
assert "AllowMajorVersionUpgrade" in msg, msg
# Without ApplyImmediately a minor upgrade waits for the maintenance window.
db = rds.modify_db_instance(DBInstanceIdentifier="old", EngineVersion="15.8")["DBInstance"]
assert db["PendingModifiedValues"]["EngineVersion"] == "15.8" and db["EngineVersion"] == "15.7", db
rds.create_db_parameter_group(DBParameterGroupName="pg15", DBParameterGroupFamily="postgres15", Description="15")
rds.modify_db_instance(DBInstanceIdentifier="old", DBParameterGroupName="pg15", ApplyImmediately=True)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="old", WaiterConfig=fast)
msg = fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", EngineVersion="16",
            AllowMajorVersionUpgrade=True, ApplyImmediately=True)
assert "parameter group pg15 is custom" in msg, msg
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", EngineVersion="16",
      AllowMajorVersionUpgrade=True, DBParameterGroupName="pg15", ApplyImmediately=True)
db = rds.modify_db_instance(DBInstanceIdentifier="old", EngineVersion="16", AllowMajorVersionUpgrade=True,
                            DBParameterGroupName="default.postgres16", ApplyImmediately=True)["DBInstance"]
assert db["DBInstanceStatus"] == "modifying", db
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="old", WaiterConfig=fast)
db = rds.describe_db_instances(DBInstanceIdentifier="old")["DBInstances"][0]
assert db["EngineVersion"] == "16.4" and "EngineVersion" not in db["PendingModifiedValues"], db
assert db["DBParameterGroups"] == [{"DBParameterGroupName": "default.postgres16", "ParameterApplyStatus": "in-sync"}], db
assert db["OptionGroupMemberships"][0]["OptionGroupName"] == "default:postgres-16", db
events = [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="old")["Events"]]
assert "Applying modification to engine version 16.4" in events, events
# Storage type: io1 needs IOPS within its ratio; gp2 takes none.
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", StorageType="io1",
      ApplyImmediately=True)
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", StorageType="io1",
      Iops=5000, ApplyImmediately=True)
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="old", Iops=3000,
      ApplyImmediately=True)
rds.modify_db_instance(DBInstanceIdentifier="old", StorageType="io1", Iops=1000, ApplyImmediately=True)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="old", WaiterConfig=fast)
db = rds.describe_db_instances(DBInstanceIdentifier="old")["DBInstances"][0]
assert db["StorageType"] == "io1" and db["Iops"] == 1000, db

for instance in ("tuned", "plain", "old"):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=instance, WaiterConfig=fast)
    rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
print("boto3 rds instance settings: ok")
