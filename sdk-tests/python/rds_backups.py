"""Automated backups and point-in-time restore through boto3, with psycopg 3 reading the rows of
the restored instances, against the squall at argv[1] (instances on ports argv[2..7]).

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import datetime
import sys
import time

import psycopg
from common import FAST, client, fails, pg_connect

endpoint = sys.argv[1]
ports = [int(p) for p in sys.argv[2:8]]
rds = client("rds", endpoint)
fast = FAST


def connect(port):
    return pg_connect(port, "keeper", "correct-horse", dbname="vault")


def rows(port):
    with connect(port) as conn:
        return conn.execute("SELECT count(*) FROM entries").fetchone()[0]


def automated(instance):
    return rds.describe_db_snapshots(DBInstanceIdentifier=instance, SnapshotType="automated")["DBSnapshots"]


rds.create_db_instance(
    DBInstanceIdentifier="vault",
    Engine="postgres",
    DBInstanceClass="db.t3.micro",
    AllocatedStorage=20,
    MasterUsername="keeper",
    MasterUserPassword="correct-horse",
    DBName="vault",
    BackupRetentionPeriod=7,
    Port=ports[0],
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault", WaiterConfig=fast)
created = rds.describe_db_instances(DBInstanceIdentifier="vault")["DBInstances"][0]
(first,) = automated("vault")
stamp = first["SnapshotCreateTime"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%d-%H-%M")
assert first["DBSnapshotIdentifier"] == f"rds:vault-{stamp}", first
assert first["SnapshotType"] == "automated" and first["Status"] == "available", first
msg = fails("InvalidDBSnapshotState", rds.delete_db_snapshot, DBSnapshotIdentifier=first["DBSnapshotIdentifier"])

(backup,) = rds.describe_db_instance_automated_backups(DBInstanceIdentifier="vault")["DBInstanceAutomatedBackups"]
assert backup["Status"] == "active" and backup["DbiResourceId"] == created["DbiResourceId"], backup
assert backup["BackupRetentionPeriod"] == 7, backup
assert backup["RestoreWindow"]["EarliestTime"] <= backup["RestoreWindow"]["LatestTime"], backup
fails("InvalidDBInstanceAutomatedBackupState", rds.delete_db_instance_automated_backup,
      DbiResourceId=created["DbiResourceId"])
fails("DBInstanceAutomatedBackupNotFound", rds.describe_db_instance_automated_backups, DbiResourceId="db-NOPE")

before_writes = datetime.datetime.now(datetime.timezone.utc)
time.sleep(0.2)
with connect(ports[0]) as conn:
    conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT)")
    for i in range(30):
        conn.execute("INSERT INTO entries VALUES (%s, %s)", (i, f"entry {i}"))
time.sleep(0.5)
after_writes = datetime.datetime.now(datetime.timezone.utc)
time.sleep(0.2)

db = rds.describe_db_instances(DBInstanceIdentifier="vault")["DBInstances"][0]
assert db["LatestRestorableTime"] >= after_writes, db["LatestRestorableTime"]

# The latest restorable time: every committed row.
rds.restore_db_instance_to_point_in_time(
    SourceDBInstanceIdentifier="vault", TargetDBInstanceIdentifier="vault-latest", UseLatestRestorableTime=True,
    Port=ports[1],
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault-latest", WaiterConfig=fast)
assert rows(ports[1]) == 30
events = rds.describe_events(SourceType="db-instance", SourceIdentifier="vault-latest")["Events"]
assert any(e["Message"].startswith("Restored from DB instance vault") for e in events), events

# A time after the last write is the same state; found by DbiResourceId too.
rds.restore_db_instance_to_point_in_time(
    SourceDbiResourceId=created["DbiResourceId"], TargetDBInstanceIdentifier="vault-at", RestoreTime=after_writes,
    Port=ports[2],
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault-at", WaiterConfig=fast)
assert rows(ports[2]) == 30

# More rows; then a time between the two batches goes back to the first (the log backup taken
# once the first batch's writes were done), and a time before any write to an empty database.
with connect(ports[0]) as conn:
    for i in range(30, 40):
        conn.execute("INSERT INTO entries VALUES (%s, %s)", (i, f"entry {i}"))
time.sleep(0.3)
rds.restore_db_instance_to_point_in_time(
    SourceDBInstanceIdentifier="vault", TargetDBInstanceIdentifier="vault-mid", RestoreTime=after_writes,
    Port=ports[3],
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault-mid", WaiterConfig=fast)
assert rows(ports[3]) == 30, rows(ports[3])
rds.restore_db_instance_to_point_in_time(
    SourceDBInstanceIdentifier="vault", TargetDBInstanceIdentifier="vault-past", RestoreTime=before_writes,
    Port=ports[4],
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="vault-past", WaiterConfig=fast)
try:
    rows(ports[4])
    raise AssertionError("the restore to before any write has the table")
except psycopg.errors.UndefinedTable:
    pass
assert rows(ports[0]) == 40, "the source keeps every row"
fails("InvalidRestoreFault", rds.restore_db_instance_to_point_in_time, SourceDBInstanceIdentifier="vault",
      TargetDBInstanceIdentifier="vault-ancient", RestoreTime=created["InstanceCreateTime"] - datetime.timedelta(days=1))
for instance in ("vault-mid", "vault-past"):
    rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
fails("InvalidRestoreFault", rds.restore_db_instance_to_point_in_time, SourceDBInstanceIdentifier="vault",
      TargetDBInstanceIdentifier="vault-future", RestoreTime=after_writes + datetime.timedelta(days=1))
fails("InvalidParameterCombination", rds.restore_db_instance_to_point_in_time, SourceDBInstanceIdentifier="vault",
      TargetDBInstanceIdentifier="x", RestoreTime=after_writes, UseLatestRestorableTime=True)
fails("DBInstanceNotFound", rds.restore_db_instance_to_point_in_time, SourceDBInstanceIdentifier="nope",
      TargetDBInstanceIdentifier="x", UseLatestRestorableTime=True)
fails("DBInstanceAlreadyExists", rds.restore_db_instance_to_point_in_time, SourceDBInstanceIdentifier="vault",
      TargetDBInstanceIdentifier="vault-at", UseLatestRestorableTime=True)

# Backups off: the automated ones go, and so does point-in-time restore.
rds.modify_db_instance(DBInstanceIdentifier="vault-at", BackupRetentionPeriod=0, ApplyImmediately=True)
fails("PointInTimeRestoreNotEnabled", rds.restore_db_instance_to_point_in_time, SourceDBInstanceIdentifier="vault-at",
      TargetDBInstanceIdentifier="x", UseLatestRestorableTime=True)
# Back on: the first automated backup is taken at once.
rds.modify_db_instance(DBInstanceIdentifier="vault-at", BackupRetentionPeriod=3, ApplyImmediately=True)
assert len(automated("vault-at")) == 1, automated("vault-at")

# Deleting with DeleteAutomatedBackups=false keeps them, retained, until deleted by resource id.
rds.delete_db_instance(DBInstanceIdentifier="vault", SkipFinalSnapshot=True, DeleteAutomatedBackups=False)
rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="vault", WaiterConfig=fast)
(kept,) = rds.describe_db_instance_automated_backups(DbiResourceId=created["DbiResourceId"])["DBInstanceAutomatedBackups"]
assert kept["Status"] == "retained" and kept["DBInstanceIdentifier"] == "vault", kept
gone = rds.delete_db_instance_automated_backup(
    DBInstanceAutomatedBackupsArn=kept["DBInstanceAutomatedBackupsArn"]
)["DBInstanceAutomatedBackup"]
assert gone["DbiResourceId"] == created["DbiResourceId"], gone
fails("DBInstanceAutomatedBackupNotFound", rds.describe_db_instance_automated_backups,
      DbiResourceId=created["DbiResourceId"])
# By default they go with the instance.
at = rds.describe_db_instances(DBInstanceIdentifier="vault-at")["DBInstances"][0]
rds.delete_db_instance(DBInstanceIdentifier="vault-at", SkipFinalSnapshot=True)
rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier="vault-at", WaiterConfig=fast)
fails("DBInstanceAutomatedBackupNotFound", rds.describe_db_instance_automated_backups, DbiResourceId=at["DbiResourceId"])
rds.delete_db_instance(DBInstanceIdentifier="vault-latest", SkipFinalSnapshot=True)
print("boto3 rds backups: ok")
