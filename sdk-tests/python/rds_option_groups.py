"""DB option groups through boto3 against the squall at argv[1]: the options each engine offers,
groups of an engine and major version, their settings checked as RDS checks them, the default
groups that cannot change, and instances that belong to a group.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
from common import FAST, client, fails


endpoint = sys.argv[1]
rds = client("rds", endpoint)
ec2 = client("ec2", endpoint)
fast = FAST


# What each engine offers.
mysql = rds.describe_option_group_options(EngineName="mysql", MajorEngineVersion="8.0")["OptionGroupOptions"]
names = {o["Name"]: o for o in mysql}
assert {"MARIADB_AUDIT_PLUGIN", "MEMCACHED"} <= set(names), names
assert names["MEMCACHED"]["PortRequired"] is True and names["MEMCACHED"]["DefaultPort"] == 11211
settings = {s["SettingName"]: s for s in names["MARIADB_AUDIT_PLUGIN"]["OptionGroupOptionSettings"]}
assert settings["SERVER_AUDIT_FILE_ROTATIONS"]["AllowedValues"] == "0-100", settings
assert rds.describe_option_group_options(EngineName="postgres")["OptionGroupOptions"] == []
fails("InvalidParameterValue", rds.describe_option_group_options, EngineName="db2")

# Groups and their rules.
made = rds.create_option_group(
    OptionGroupName="Audit", EngineName="mysql", MajorEngineVersion="8.0", OptionGroupDescription="audit logs",
    Tags=[{"Key": "team", "Value": "sec"}],
)["OptionGroup"]
assert made["OptionGroupName"] == "audit" and made["Options"] == [], made
assert made["OptionGroupArn"] == "arn:aws:rds:us-east-1:000000000000:og:audit", made
assert rds.list_tags_for_resource(ResourceName=made["OptionGroupArn"])["TagList"] == [{"Key": "team", "Value": "sec"}]
fails("OptionGroupAlreadyExistsFault", rds.create_option_group, OptionGroupName="audit", EngineName="mysql",
      MajorEngineVersion="8.0", OptionGroupDescription="again")
fails("InvalidParameterCombination", rds.create_option_group, OptionGroupName="old", EngineName="mysql",
      MajorEngineVersion="5.1", OptionGroupDescription="x")
fails("InvalidParameterValue", rds.create_option_group, OptionGroupName="-bad", EngineName="mysql",
      MajorEngineVersion="8.0", OptionGroupDescription="x")
fails("OptionGroupNotFoundFault", rds.describe_option_groups, OptionGroupName="nope")
fails("InvalidParameterCombination", rds.describe_option_groups, MajorEngineVersion="8.0")

audit = {"OptionName": "MARIADB_AUDIT_PLUGIN",
         "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT,QUERY_DDL"},
                            {"Name": "SERVER_AUDIT_FILE_ROTATIONS", "Value": "20"}]}
fails("InvalidParameterValue", rds.modify_option_group, OptionGroupName="audit", ApplyImmediately=True,
      OptionsToInclude=[{"OptionName": "SQLSERVER_BACKUP_RESTORE"}])
fails("InvalidParameterValue", rds.modify_option_group, OptionGroupName="audit", ApplyImmediately=True,
      OptionsToInclude=[{**audit, "OptionSettings": [{"Name": "SERVER_AUDIT_FILE_ROTATIONS", "Value": "500"}]}])
fails("InvalidParameterValue", rds.modify_option_group, OptionGroupName="audit", ApplyImmediately=True,
      OptionsToInclude=[{**audit, "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT,EVERYTHING"}]}])
fails("InvalidParameterValue", rds.modify_option_group, OptionGroupName="audit", ApplyImmediately=True,
      OptionsToRemove=["MEMCACHED"])
group = rds.modify_option_group(OptionGroupName="audit", OptionsToInclude=[audit], ApplyImmediately=True)["OptionGroup"]
(option,) = group["Options"]
values = {s["Name"]: s.get("Value") for s in option["OptionSettings"]}
assert values["SERVER_AUDIT_EVENTS"] == "CONNECT,QUERY_DDL" and values["SERVER_AUDIT_FILE_ROTATIONS"] == "20", values
assert values["SERVER_AUDIT_QUERY_LOG_LIMIT"] == "1024", values  # the default shows where none was set
sg = ec2.create_security_group(GroupName="cache", Description="memcached")["GroupId"]
group = rds.modify_option_group(
    OptionGroupName="audit", ApplyImmediately=True,
    OptionsToInclude=[{"OptionName": "MEMCACHED", "VpcSecurityGroupMemberships": [sg]}],
)["OptionGroup"]
memcached = next(o for o in group["Options"] if o["OptionName"] == "MEMCACHED")
assert memcached["Port"] == 11211 and memcached["VpcSecurityGroupMemberships"][0]["VpcSecurityGroupId"] == sg, memcached
group = rds.modify_option_group(OptionGroupName="audit", OptionsToRemove=["MEMCACHED"], ApplyImmediately=True)["OptionGroup"]
assert [o["OptionName"] for o in group["Options"]] == ["MARIADB_AUDIT_PLUGIN"], group

# Default groups: there, but fixed.
(default,) = rds.describe_option_groups(OptionGroupName="default:mysql-8-0")["OptionGroupsList"]
assert default["EngineName"] == "mysql" and default["MajorEngineVersion"] == "8.0", default
fails("InvalidOptionGroupStateFault", rds.modify_option_group, OptionGroupName="default:mysql-8-0",
      OptionsToInclude=[audit], ApplyImmediately=True)
fails("InvalidOptionGroupStateFault", rds.delete_option_group, OptionGroupName="default:mysql-8-0")

# Instances belong to a group of their engine and major version.
base = dict(Engine="mysql", EngineVersion="8.0", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
            MasterUsername="admin", MasterUserPassword="correct-horse")
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="pg", Engine="postgres",
      DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="app", MasterUserPassword="correct-horse",
      OptionGroupName="audit")
fails("OptionGroupNotFoundFault", rds.create_db_instance, DBInstanceIdentifier="shop", **base, OptionGroupName="nope")
rds.create_db_instance(DBInstanceIdentifier="shop", **base, OptionGroupName="audit")
rds.create_db_instance(DBInstanceIdentifier="plain", **base)
for instance in ("shop", "plain"):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=instance, WaiterConfig=fast)


def membership(instance):
    (m,) = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["OptionGroupMemberships"]
    return m["OptionGroupName"], m["Status"]


assert membership("shop") == ("audit", "in-sync"), membership("shop")
assert membership("plain") == ("default:mysql-8-0", "in-sync"), membership("plain")
msg = fails("InvalidOptionGroupStateFault", rds.delete_option_group, OptionGroupName="audit")
assert "shop" in msg, msg
listed = [g["OptionGroupName"] for g in rds.describe_option_groups(EngineName="mysql")["OptionGroupsList"]]
assert listed == ["audit", "default:mysql-8-0"], listed

copy = rds.copy_option_group(SourceOptionGroupIdentifier=made["OptionGroupArn"], TargetOptionGroupIdentifier="audit-2",
                             TargetOptionGroupDescription="a copy")["OptionGroup"]
assert [o["OptionName"] for o in copy["Options"]] == ["MARIADB_AUDIT_PLUGIN"], copy
rds.modify_db_instance(DBInstanceIdentifier="shop", OptionGroupName="audit-2", ApplyImmediately=True)
assert membership("shop") == ("audit-2", "in-sync"), membership("shop")
rds.delete_option_group(OptionGroupName="audit")
fails("OptionGroupNotFoundFault", rds.delete_option_group, OptionGroupName="audit")

for instance in ("shop", "plain"):
    rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
print("boto3 rds option groups: ok")
