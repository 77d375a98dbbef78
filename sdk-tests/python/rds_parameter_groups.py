"""DB parameter groups through boto3 and psycopg 3, against the squall at argv[1] (the instance's
SQL endpoint on port argv[2]): RDS's rules and error codes for groups and parameters, and the
values reaching the database — a dynamic parameter set `immediate` at once, a static one
`pending-reboot` until the instance reboots, `max_connections` turning the next client away with
PostgreSQL's 53300.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

import psycopg
from common import FAST, client, fails, pg_connect

endpoint, port = sys.argv[1], int(sys.argv[2])
rds = client("rds", endpoint)
fast = FAST


# ---- groups and their rules ----------------------------------------------------------------------
made = rds.create_db_parameter_group(
    DBParameterGroupName="App-PG",
    DBParameterGroupFamily="postgres16",
    Description="the app's settings",
    Tags=[{"Key": "team", "Value": "data"}],
)["DBParameterGroup"]
assert made["DBParameterGroupName"] == "app-pg", made
assert made["DBParameterGroupFamily"] == "postgres16", made
arn = made["DBParameterGroupArn"]
assert arn == "arn:aws:rds:us-east-1:000000000000:pg:app-pg", arn
assert rds.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "team", "Value": "data"}]
fails("DBParameterGroupAlreadyExists", rds.create_db_parameter_group, DBParameterGroupName="app-pg",
      DBParameterGroupFamily="postgres16", Description="again")
fails("InvalidParameterValue", rds.create_db_parameter_group, DBParameterGroupName="1st",
      DBParameterGroupFamily="postgres16", Description="x")
fails("InvalidParameterValue", rds.create_db_parameter_group, DBParameterGroupName="double--hyphen",
      DBParameterGroupFamily="postgres16", Description="x")
fails("InvalidParameterValue", rds.create_db_parameter_group, DBParameterGroupName="ok",
      DBParameterGroupFamily="postgres99", Description="x")
fails("DBParameterGroupNotFound", rds.describe_db_parameter_groups, DBParameterGroupName="nope")
shown = rds.describe_db_parameter_groups(DBParameterGroupName="default.postgres16")["DBParameterGroups"]
assert [g["DBParameterGroupName"] for g in shown] == ["default.postgres16"], shown

# The engine's defaults, with RDS's formulas, types and apply types; pages of 20.
defaults = rds.describe_engine_default_parameters(DBParameterGroupFamily="postgres16")["EngineDefaults"]
by_name = {p["ParameterName"]: p for p in defaults["Parameters"]}
assert by_name["max_connections"]["ParameterValue"] == "LEAST({DBInstanceClassMemory/9531392},5000)", by_name
assert by_name["max_connections"]["ApplyType"] == "static", by_name["max_connections"]
assert by_name["statement_timeout"]["ApplyType"] == "dynamic"
assert by_name["port"]["IsModifiable"] is False
fails("InvalidParameterValue", rds.describe_engine_default_parameters, DBParameterGroupFamily="oracle-ee-19")
pages = list(rds.get_paginator("describe_db_parameters").paginate(DBParameterGroupName="app-pg", MaxRecords=20))
assert len(pages) >= 2 and "Marker" in pages[0], [len(p["Parameters"]) for p in pages]
names = [p["ParameterName"] for page in pages for p in page["Parameters"]]
assert names == sorted(by_name), names
assert rds.describe_db_parameters(DBParameterGroupName="app-pg", Source="user")["Parameters"] == []

# What ModifyDBParameterGroup refuses, with RDS's codes.
msg = fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="default.postgres16",
            Parameters=[{"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"}])
assert msg == "Cannot modify a default parameter group.", msg
msg = fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
            Parameters=[{"ParameterName": "no_such_thing", "ParameterValue": "1", "ApplyMethod": "immediate"}])
assert msg == "Could not find parameter with name: no_such_thing", msg
fails("InvalidParameterCombination", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
      Parameters=[{"ParameterName": "max_connections", "ParameterValue": "50", "ApplyMethod": "immediate"}])
msg = fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
            Parameters=[{"ParameterName": "max_connections", "ParameterValue": "3", "ApplyMethod": "pending-reboot"}])
assert "allowed values are: 6-8388607" in msg, msg
fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
      Parameters=[{"ParameterName": "port", "ParameterValue": "5433", "ApplyMethod": "pending-reboot"}])
fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
      Parameters=[{"ParameterName": "log_statement", "ParameterValue": "everything", "ApplyMethod": "immediate"}])
fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
      Parameters=[{"ParameterName": f"p{i}", "ParameterValue": "1", "ApplyMethod": "immediate"} for i in range(21)])
# A refused call changes nothing, even for the parameters before the bad one.
fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="app-pg",
      Parameters=[{"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"},
                  {"ParameterName": "work_mem2", "ParameterValue": "1", "ApplyMethod": "immediate"}])
assert rds.describe_db_parameters(DBParameterGroupName="app-pg", Source="user")["Parameters"] == []

rds.modify_db_parameter_group(
    DBParameterGroupName="app-pg",
    Parameters=[
        {"ParameterName": "statement_timeout", "ParameterValue": "500", "ApplyMethod": "immediate"},
        {"ParameterName": "timezone", "ParameterValue": "Europe/Lisbon", "ApplyMethod": "immediate"},
    ],
)
user = {p["ParameterName"]: p for p in rds.describe_db_parameters(DBParameterGroupName="app-pg", Source="user")["Parameters"]}
assert user["statement_timeout"]["ParameterValue"] == "500" and user["statement_timeout"]["Source"] == "user", user
assert user["statement_timeout"]["ApplyMethod"] == "immediate", user

# ---- an instance of the group: values reach the database -----------------------------------------
fails("InvalidParameterCombination", rds.create_db_instance, DBInstanceIdentifier="wrong-family",
      Engine="postgres", EngineVersion="15", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
      MasterUsername="app", MasterUserPassword="correct-horse", DBParameterGroupName="app-pg")
fails("DBParameterGroupNotFound", rds.create_db_instance, DBInstanceIdentifier="no-group",
      Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
      MasterUsername="app", MasterUserPassword="correct-horse", DBParameterGroupName="missing")
rds.create_db_instance(
    DBInstanceIdentifier="tuned",
    Engine="postgres",
    DBInstanceClass="db.t3.micro",
    AllocatedStorage=20,
    MasterUsername="app",
    MasterUserPassword="correct-horse",
    DBParameterGroupName="APP-PG",
    Port=port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="tuned", WaiterConfig=fast)


def group_status():
    db = rds.describe_db_instances(DBInstanceIdentifier="tuned")["DBInstances"][0]
    (g,) = db["DBParameterGroups"]
    return g["DBParameterGroupName"], g["ParameterApplyStatus"]


assert group_status() == ("app-pg", "in-sync"), group_status()
dsn = f"host=127.0.0.1 port={port} dbname=postgres user=app password=correct-horse connect_timeout=5"


def connect():
    return pg_connect(port, "app", "correct-horse")


def show(conn, name):
    return conn.execute(f"SHOW {name}").fetchone()[0]


conn = connect()
assert show(conn, "statement_timeout") == "500", show(conn, "statement_timeout")
assert show(conn, "timezone") == "Europe/Lisbon"
# The group's formula, worked out for a db.t3.micro (1 GiB).
assert show(conn, "max_connections") == "112", show(conn, "max_connections")
assert show(conn, "port") == str(port)
try:
    conn.execute("SELECT pg_sleep(3)")
    raise AssertionError("statement_timeout from the parameter group did not stop the statement")
except psycopg.errors.QueryCanceled as e:
    assert e.sqlstate == "57014", e.sqlstate
# A session's own SET wins over the group.
conn.execute("SET statement_timeout = 0")
conn.execute("SELECT pg_sleep(0.7)")
conn.close()

# A dynamic change with `immediate` reaches open sessions without a reboot.
conn = connect()
rds.modify_db_parameter_group(
    DBParameterGroupName="app-pg",
    Parameters=[{"ParameterName": "statement_timeout", "ParameterValue": "2000", "ApplyMethod": "immediate"}],
)
deadline = time.time() + 5
while show(conn, "statement_timeout") != "2000":
    assert time.time() < deadline, "the immediate change never reached the session"
    time.sleep(0.1)
conn.execute("SELECT pg_sleep(0.7)")
assert group_status() == ("app-pg", "in-sync")

# A static one waits for the reboot.
rds.modify_db_parameter_group(
    DBParameterGroupName="app-pg",
    Parameters=[{"ParameterName": "max_connections", "ParameterValue": "6", "ApplyMethod": "pending-reboot"}],
)
assert group_status() == ("app-pg", "pending-reboot"), group_status()
time.sleep(0.5)
assert show(conn, "max_connections") == "112", "a static parameter applied before the reboot"
conn.close()
rds.reboot_db_instance(DBInstanceIdentifier="tuned")
time.sleep(0.3)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="tuned", WaiterConfig=fast)
assert group_status() == ("app-pg", "in-sync"), group_status()
held = [connect()]
assert show(held[0], "max_connections") == "6"
held += [connect() for _ in range(5)]
try:
    psycopg.connect(dsn, autocommit=True)
    raise AssertionError("a seventh connection was taken with max_connections = 6")
except psycopg.OperationalError as e:
    # libpq reports a refusal at start-up by its message (PostgreSQL's, SQLSTATE 53300).
    assert "FATAL:  sorry, too many clients already" in str(e), e
# A closed session frees its slot once the server has seen it go (as a PostgreSQL backend exits).
held.pop().close()
deadline = time.time() + 5
while True:
    try:
        held.append(psycopg.connect(dsn, autocommit=True))
        break
    except psycopg.OperationalError as e:
        assert "too many clients" in str(e) and time.time() < deadline, e
        time.sleep(0.05)
assert held[-1].execute("SELECT 1").fetchone() == (1,)
for c in held:
    c.close()

# Reset: the static value waits for the next reboot again.
fails("InvalidParameterCombination", rds.reset_db_parameter_group, DBParameterGroupName="app-pg")
rds.reset_db_parameter_group(
    DBParameterGroupName="app-pg",
    Parameters=[{"ParameterName": "timezone", "ApplyMethod": "immediate"}],
)
user = [p["ParameterName"] for p in rds.describe_db_parameters(DBParameterGroupName="app-pg", Source="user")["Parameters"]]
assert user == ["max_connections", "statement_timeout"], user
rds.reset_db_parameter_group(DBParameterGroupName="app-pg", ResetAllParameters=True)
assert rds.describe_db_parameters(DBParameterGroupName="app-pg", Source="user")["Parameters"] == []
assert group_status() == ("app-pg", "pending-reboot"), group_status()

# Copy (by ARN), tags, and the list.
copy = rds.copy_db_parameter_group(
    SourceDBParameterGroupIdentifier=arn,
    TargetDBParameterGroupIdentifier="app-pg-copy",
    TargetDBParameterGroupDescription="a copy",
)["DBParameterGroup"]
assert copy["DBParameterGroupFamily"] == "postgres16", copy
fails("DBParameterGroupAlreadyExists", rds.copy_db_parameter_group, SourceDBParameterGroupIdentifier="app-pg",
      TargetDBParameterGroupIdentifier="app-pg-copy", TargetDBParameterGroupDescription="again")
fails("DBParameterGroupNotFound", rds.copy_db_parameter_group, SourceDBParameterGroupIdentifier="nope",
      TargetDBParameterGroupIdentifier="x", TargetDBParameterGroupDescription="x")
listed = [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]]
assert listed == ["app-pg", "app-pg-copy"], listed

# Deleting: not while an instance uses the group, never a default group.
msg = fails("InvalidDBParameterGroupState", rds.delete_db_parameter_group, DBParameterGroupName="app-pg")
msg = fails("InvalidDBParameterGroupState", rds.delete_db_parameter_group, DBParameterGroupName="default.postgres16")
assert msg == "Default DBParameterGroup cannot be deleted: default.postgres16", msg
# Another group for the instance: associated now, taken at the reboot.
rds.modify_db_instance(DBInstanceIdentifier="tuned", DBParameterGroupName="default.postgres16", ApplyImmediately=True)
assert group_status() == ("default.postgres16", "pending-reboot"), group_status()
rds.reboot_db_instance(DBInstanceIdentifier="tuned")
time.sleep(0.3)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="tuned", WaiterConfig=fast)
assert group_status() == ("default.postgres16", "in-sync"), group_status()
rds.delete_db_parameter_group(DBParameterGroupName="app-pg")
listed = [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]]
assert listed == ["app-pg-copy", "default.postgres16"], listed
fails("DBParameterGroupNotFound", rds.delete_db_parameter_group, DBParameterGroupName="app-pg")

# MySQL families have their own parameters.
rds.create_db_parameter_group(DBParameterGroupName="shop-mysql", DBParameterGroupFamily="mysql8.0", Description="shop")
rds.modify_db_parameter_group(
    DBParameterGroupName="shop-mysql",
    Parameters=[{"ParameterName": "character_set_server", "ParameterValue": "utf8mb4", "ApplyMethod": "immediate"}],
)
fails("InvalidParameterValue", rds.modify_db_parameter_group, DBParameterGroupName="shop-mysql",
      Parameters=[{"ParameterName": "statement_timeout", "ParameterValue": "1", "ApplyMethod": "immediate"}])

rds.delete_db_instance(DBInstanceIdentifier="tuned", SkipFinalSnapshot=True)
print("boto3 rds parameter groups: ok")
