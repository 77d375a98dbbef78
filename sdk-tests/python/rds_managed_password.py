"""ManageMasterUserPassword through boto3 and psycopg against the squall at argv[1] (the
instance's SQL endpoint on port argv[2]): RDS keeps the master password in a Secrets Manager
secret, GetSecretValue reads it and the database takes it; rotation (RDS's and Secrets
Manager's) changes the password the database takes; turned off, the secret goes. Also Secrets
Manager's own secrets: versions and labels, deletion and restore, filters.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import json
import sys
import time

import psycopg
from common import FAST, client, fails, pg_connect

endpoint = sys.argv[1]
port = int(sys.argv[2])
rds = client("rds", endpoint)
sm = client("secretsmanager", endpoint)


def password_of(arn, **kw):
    value = json.loads(sm.get_secret_value(SecretId=arn, **kw)["SecretString"])
    assert value["username"] == "owner", value
    return value["password"]


def connects(password):
    """Whether the SQL endpoint takes the master user with `password` (polled: a change reaches
    the endpoint within its reconcile interval)."""
    try:
        psycopg.connect(f"host=127.0.0.1 port={port} dbname=postgres user=owner password={password} "
                        "connect_timeout=5").close()
        return True
    except psycopg.OperationalError as e:
        assert "password authentication failed" in str(e).lower(), e
        return False


def eventually(check, what):
    for _ in range(60):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(what)


fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="vault", Engine="postgres",
      DBInstanceClass="db.t3.micro", AllocatedStorage=20, MasterUsername="owner", MasterUserPassword="given-pw-1",
      ManageMasterUserPassword=True)
made = rds.create_db_instance(DBInstanceIdentifier="vault", Engine="postgres", DBInstanceClass="db.t3.micro",
                              AllocatedStorage=20, MasterUsername="owner", ManageMasterUserPassword=True,
                              Port=port)["DBInstance"]
secret = made["MasterUserSecret"]
arn = secret["SecretArn"]
assert arn.startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!db-"), secret
assert secret["SecretStatus"] == "active" and secret["KmsKeyId"], secret
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault", WaiterConfig=FAST)

described = sm.describe_secret(SecretId=arn)
assert described["OwningService"] == "rds" and described["RotationEnabled"] is True, described
assert described["RotationRules"]["AutomaticallyAfterDays"] == 7, described
assert {"Key": "aws:rds:primaryDBInstanceArn",
        "Value": "arn:aws:rds:us-east-1:000000000000:db:vault"} in described["Tags"], described
first = password_of(arn)
assert len(first) >= 20 and not set(first) & set("/@\" "), first
pg_connect(port, "owner", first).close()
assert not connects("wrong-password")
# RDS's secret changes only through RDS.
fails("InvalidRequestException", sm.put_secret_value, SecretId=arn, SecretString="{}")
fails("InvalidRequestException", sm.delete_secret, SecretId=arn)
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="vault",
      MasterUserPassword="another-pw-1", ApplyImmediately=True)
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="vault",
      RotateMasterUserPassword=True)

# RDS rotates: the new password is AWSCURRENT, the old one AWSPREVIOUS, and the database takes it.
rds.modify_db_instance(DBInstanceIdentifier="vault", RotateMasterUserPassword=True, ApplyImmediately=True)
second = password_of(arn)
assert second != first and password_of(arn, VersionStage="AWSPREVIOUS") == first
eventually(lambda: connects(second), "the rotated password is taken")
assert not connects(first), "the old password no longer works"

# Secrets Manager rotates a secret RDS manages the same way.
rotated = sm.rotate_secret(SecretId=arn)
third = password_of(arn)
assert third not in (first, second) and rotated["VersionId"] == sm.get_secret_value(SecretId=arn)["VersionId"]
assert sm.describe_secret(SecretId=arn)["LastRotatedDate"], "rotation is recorded"
eventually(lambda: connects(third), "the password Secrets Manager rotated is taken")

# Turned off: a MasterUserPassword is needed, the secret goes, the new password holds.
fails("InvalidParameterCombination", rds.modify_db_instance, DBInstanceIdentifier="vault",
      ManageMasterUserPassword=False, ApplyImmediately=True)
off = rds.modify_db_instance(DBInstanceIdentifier="vault", ManageMasterUserPassword=False,
                             MasterUserPassword="my-own-pw-1", ApplyImmediately=True)["DBInstance"]
assert "MasterUserSecret" not in off, off
fails("ResourceNotFoundException", sm.describe_secret, SecretId=arn)
eventually(lambda: connects("my-own-pw-1"), "the user's password is taken")
# And on again, for an instance that exists.
on = rds.modify_db_instance(DBInstanceIdentifier="vault", ManageMasterUserPassword=True,
                            ApplyImmediately=True)["DBInstance"]
arn2 = on["MasterUserSecret"]["SecretArn"]
assert arn2 != arn
eventually(lambda: connects(password_of(arn2)), "the new managed password is taken")
assert [s["ARN"] for s in sm.list_secrets(Filters=[{"Key": "owning-service", "Values": ["rds"]}])["SecretList"]] \
    == [arn2]

# --- Secrets Manager's own secrets -----------------------------------------------------------
made = sm.create_secret(Name="app/api-key", SecretString="v1", Description="the API key",
                        Tags=[{"Key": "team", "Value": "web"}])
fails("ResourceExistsException", sm.create_secret, Name="app/api-key", SecretString="x")
fails("InvalidParameterException", sm.create_secret, Name="bad name", SecretString="x")
put = sm.put_secret_value(SecretId="app/api-key", SecretString="v2")
assert put["VersionStages"] == ["AWSCURRENT"], put
got = sm.get_secret_value(SecretId=made["ARN"])
assert (got["SecretString"], got["VersionId"], got["Name"]) == ("v2", put["VersionId"], "app/api-key"), got
assert sm.get_secret_value(SecretId="app/api-key", VersionId=made["VersionId"])["SecretString"] == "v1"
assert sm.get_secret_value(SecretId="app/api-key", VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
fails("ResourceNotFoundException", sm.get_secret_value, SecretId="app/api-key", VersionStage="NOPE")
fails("ResourceNotFoundException", sm.get_secret_value, SecretId="app/nothing")
sm.create_secret(Name="binary", SecretBinary=b"\x00\x01\xff")
assert sm.get_secret_value(SecretId="binary")["SecretBinary"] == b"\x00\x01\xff"
names = lambda **kw: [s["Name"] for s in sm.list_secrets(**kw)["SecretList"]]  # noqa: E731
assert names(Filters=[{"Key": "name", "Values": ["app/"]}]) == ["app/api-key"], names()
assert names(Filters=[{"Key": "tag-key", "Values": ["team"]}]) == ["app/api-key"]
assert "app/api-key" not in names(Filters=[{"Key": "name", "Values": ["!app"]}])
page = sm.list_secrets(MaxResults=1)
assert len(page["SecretList"]) == 1 and page["NextToken"], page

deleted = sm.delete_secret(SecretId="app/api-key", RecoveryWindowInDays=7)
assert deleted["DeletionDate"].timestamp() - time.time() > 6 * 86400, deleted
fails("InvalidRequestException", sm.get_secret_value, SecretId="app/api-key")
assert "app/api-key" not in names() and "app/api-key" in names(IncludePlannedDeletion=True)
sm.restore_secret(SecretId="app/api-key")
assert sm.get_secret_value(SecretId="app/api-key")["SecretString"] == "v2"
sm.untag_resource(SecretId="app/api-key", TagKeys=["team"])
sm.tag_resource(SecretId="app/api-key", Tags=[{"Key": "env", "Value": "ci"}])
assert sm.describe_secret(SecretId="app/api-key")["Tags"] == [{"Key": "env", "Value": "ci"}]
fails("InvalidParameterException", sm.delete_secret, SecretId="app/api-key", RecoveryWindowInDays=3)
sm.delete_secret(SecretId="app/api-key", ForceDeleteWithoutRecovery=True)
fails("ResourceNotFoundException", sm.describe_secret, SecretId="app/api-key")

# A restore can hand its password to a new secret too.
rds.create_db_snapshot(DBInstanceIdentifier="vault", DBSnapshotIdentifier="vault-snap")
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="vault-snap", WaiterConfig=FAST)
restored = rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="vault-copy", DBSnapshotIdentifier="vault-snap",
                                                    ManageMasterUserPassword=True)["DBInstance"]
arn3 = restored["MasterUserSecret"]["SecretArn"]
assert arn3 not in (arn, arn2) and password_of(arn3) != password_of(arn2)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault-copy", WaiterConfig=FAST)
rds.delete_db_instance(DBInstanceIdentifier="vault-copy", SkipFinalSnapshot=True)

# GetRandomPassword and ListSecretVersionIds.
pw = sm.get_random_password(PasswordLength=20, ExcludePunctuation=True)["RandomPassword"]
assert len(pw) == 20 and pw.isalnum(), pw
fails("InvalidParameterException", sm.get_random_password, PasswordLength=5000)
versions = sm.list_secret_version_ids(SecretId=arn2)["Versions"]
assert [v["VersionStages"] for v in versions] == [["AWSCURRENT"]], versions

# Deleting the instance deletes the secret RDS managed for it.
rds.delete_db_instance(DBInstanceIdentifier="vault", SkipFinalSnapshot=True)
rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="vault", WaiterConfig=FAST)
fails("ResourceNotFoundException", sm.describe_secret, SecretId=arn2)
print("boto3 rds managed password: ok")
