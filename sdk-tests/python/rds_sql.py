"""The SQL endpoint of a Multi-AZ PostgreSQL DB instance, through psycopg 3 (PyPI), against the
squall at argv[1], the endpoint on port argv[2]: CRUD and transactions, PostgreSQL's error codes,
statement_timeout, then a failover drill — a writer commits numbered rows without pause while
RDS fails over 10 times (ForceFailover) and once on an outage of the primary's zone; afterwards
every row whose commit was acknowledged is there.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import json
import sys
import threading
import time
import urllib.request

import boto3
import psycopg
from botocore.config import Config

endpoint, port = sys.argv[1], int(sys.argv[2])
session = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
rds = boto3.client("rds", **session)
fast = {"Delay": 1, "MaxAttempts": 60}

rds.create_db_instance(
    DBInstanceIdentifier="ledger",
    Engine="postgres",
    DBInstanceClass="db.t3.micro",
    AllocatedStorage=20,
    MasterUsername="ledger_admin",
    MasterUserPassword="correct-horse",
    DBName="app",
    MultiAZ=True,
    Port=port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger", WaiterConfig=fast)
db = rds.describe_db_instances(DBInstanceIdentifier="ledger")["DBInstances"][0]
assert db["Endpoint"]["Port"] == port, db
dsn = f"host=127.0.0.1 port={port} dbname=app user=ledger_admin password=correct-horse connect_timeout=5"


def connect(attempts=100, to=None):
    for _ in range(attempts):
        try:
            return psycopg.connect(to or dsn, autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError("the endpoint never took a connection")


conn = connect()
# CRUD, with parameters, RETURNING and types the driver decodes.
conn.execute("CREATE TABLE accounts (id SERIAL PRIMARY KEY, owner TEXT NOT NULL UNIQUE, balance NUMERIC(12,2), active BOOLEAN DEFAULT true, opened TIMESTAMPTZ DEFAULT now())")
row = conn.execute("INSERT INTO accounts (owner, balance) VALUES (%s, %s) RETURNING id, owner", ("ana", 100)).fetchone()
assert row == (1, "ana"), row
conn.execute("INSERT INTO accounts (owner, balance) VALUES (%s, %s), (%s, %s)", ("bo", 50, "cy", 0))
rows = conn.execute("SELECT owner, active FROM accounts WHERE balance >= %s ORDER BY owner", (50,)).fetchall()
assert rows == [("ana", True), ("bo", True)], rows
count = conn.execute("SELECT count(*) FROM accounts").fetchone()[0]
assert count == 3 and isinstance(count, int), count
opened = conn.execute("SELECT opened FROM accounts WHERE owner = 'ana'").fetchone()[0]
assert opened.year >= 2024 and opened.tzinfo is not None, opened
assert conn.execute("SELECT current_database(), current_user").fetchone() == ("app", "ledger_admin")

# A transaction: a transfer commits as a whole; a failed one rolls back as a whole.
with conn.transaction():
    conn.execute("UPDATE accounts SET balance = balance - 30 WHERE owner = 'ana'")
    conn.execute("UPDATE accounts SET balance = balance + 30 WHERE owner = 'bo'")
try:
    with conn.transaction():
        conn.execute("UPDATE accounts SET balance = balance - 1000 WHERE owner = 'ana'")
        conn.execute("INSERT INTO accounts (owner) VALUES ('bo')")  # duplicate owner
    raise AssertionError("a duplicate owner was accepted")
except psycopg.errors.UniqueViolation as e:
    assert e.sqlstate == "23505", e.sqlstate
balances = dict(conn.execute("SELECT owner, balance FROM accounts").fetchall())
assert float(balances["ana"]) == 70 and float(balances["bo"]) == 80, balances

# PostgreSQL's error codes.
for sql, code in [
    ("SELEC 1", "42601"),
    ("SELECT * FROM nowhere", "42P01"),
    ("SELECT nope FROM accounts", "42703"),
    ("CREATE TABLE accounts (id int)", "42P07"),
]:
    try:
        conn.execute(sql)
        raise AssertionError(f"{sql} succeeded")
    except psycopg.Error as e:
        assert e.sqlstate == code, (sql, e.sqlstate, str(e))
try:
    psycopg.connect(dsn.replace("correct-horse", "wrong"))
    raise AssertionError("a wrong password was accepted")
except psycopg.OperationalError as e:
    assert "28P01" in str(e) or "authentication failed" in str(e).lower(), e
conn.execute("SET statement_timeout = 200")
started = time.time()
try:
    conn.execute("SELECT pg_sleep(5)")
    raise AssertionError("statement_timeout did not cancel")
except psycopg.errors.QueryCanceled as e:
    assert e.sqlstate == "57014" and time.time() - started < 3, (e.sqlstate, time.time() - started)
conn.execute("SET statement_timeout = 0")
# CancelRequest (psycopg's cancel(), from another thread) stops the running statement.
threading.Timer(0.3, conn.cancel).start()
started = time.time()
try:
    conn.execute("SELECT pg_sleep(5)")
    raise AssertionError("the cancel did not stop the statement")
except psycopg.errors.QueryCanceled as e:
    assert e.sqlstate == "57014" and time.time() - started < 3, (e.sqlstate, time.time() - started)
assert conn.execute("SELECT 1").fetchone() == (1,)  # the session goes on
conn.close()


# The drill.
def fault_api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


setup = connect()
setup.execute("CREATE TABLE drill (n INTEGER PRIMARY KEY, at TIMESTAMPTZ DEFAULT now())")
setup.close()
acknowledged = []
failures = []
stop = threading.Event()


def writer():
    n = 0
    c = None
    while not stop.is_set():
        try:
            if c is None:
                c = psycopg.connect(dsn, autocommit=True)
            n += 1
            c.execute("INSERT INTO drill (n) VALUES (%s)", (n,))
            acknowledged.append(n)
        except psycopg.Error as e:
            # Closed by the failover (57P01 or a dropped connection): reconnect and go on. The
            # number whose commit was not acknowledged may or may not be there.
            failures.append(getattr(e, "sqlstate", None) or type(e).__name__)
            try:
                if c is not None:
                    c.close()
            except psycopg.Error:
                pass
            c = None
            time.sleep(0.05)


def wait_available(not_zone=None):
    deadline = time.time() + 60
    while time.time() < deadline:
        d = rds.describe_db_instances(DBInstanceIdentifier="ledger")["DBInstances"][0]
        if d["DBInstanceStatus"] == "available" and (not_zone is None or d["AvailabilityZone"] != not_zone):
            return d
        time.sleep(0.1)
    raise AssertionError(f"ledger never became available (outside {not_zone})")


thread = threading.Thread(target=writer)
thread.start()
time.sleep(0.5)
for i in range(10):
    before = wait_available()
    rds.reboot_db_instance(DBInstanceIdentifier="ledger", ForceFailover=True)
    after = wait_available(not_zone=before["AvailabilityZone"])
    assert after["SecondaryAvailabilityZone"] == before["AvailabilityZone"], (before, after)
    time.sleep(0.3)
# An outage of the primary's zone: RDS fails over by itself.
primary = wait_available()["AvailabilityZone"]
fault = fault_api("POST", "/_squall/faults", {"kind": "az-outage", "zone": primary, "region": "us-east-1"})
wait_available(not_zone=primary)
time.sleep(0.5)
fault_api("DELETE", "/_squall/faults/" + fault["id"])
time.sleep(0.5)
stop.set()
thread.join(30)
check = connect()
present = {r[0] for r in check.execute("SELECT n FROM drill").fetchall()}
lost = [n for n in acknowledged if n not in present]
print(f"drill: {len(acknowledged)} commits acknowledged, {len(failures)} statements failed over, {len(lost)} lost")
# squall's status and metrics count the endpoint's commits.
endpoints = fault_api("GET", "/_squall/status")["sqlEndpoints"]
ledger = next(e for e in endpoints if e["instance"] == "us-east-1/ledger")
assert ledger["port"] == port and ledger["commits"] > 0, endpoints
with urllib.request.urlopen(endpoint + "/metrics") as r:
    assert 'squall_sql_commits_total{instance="us-east-1/ledger"}' in r.read().decode()
assert acknowledged and not lost, lost[:20]
assert len(acknowledged) > 20, len(acknowledged)
# The accounts survived every failover too.
assert check.execute("SELECT count(*) FROM accounts").fetchone()[0] == 3
check.close()


# An out-of-sync standby is never promoted (2.5% of Multi-AZ instances in April 2011): its zone
# is cut, rows are committed on the primary alone, then the primary's zone fails too.
def events():
    return [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="ledger")["Events"]]


d = wait_available()
primary, standby = d["AvailabilityZone"], d["SecondaryAvailabilityZone"]
cut_standby = fault_api("POST", "/_squall/faults", {"kind": "az-outage", "zone": standby, "region": "us-east-1"})
c = connect()
c.execute("CREATE TABLE after_cut (n INTEGER PRIMARY KEY)")
for n in range(1, 51):
    c.execute("INSERT INTO after_cut VALUES (%s)", (n,))
c.close()
assert any("out of sync" in m and standby in m for m in events()), events()
try:
    rds.reboot_db_instance(DBInstanceIdentifier="ledger", ForceFailover=True)
    raise AssertionError("a forced failover to an out-of-sync standby was accepted")
except rds.exceptions.InvalidDBInstanceStateFault:
    pass  # AWS's words; the event above says why
cut_primary = fault_api("POST", "/_squall/faults", {"kind": "az-outage", "zone": primary, "region": "us-east-1"})
fault_api("DELETE", "/_squall/faults/" + cut_standby["id"])
deadline = time.time() + 8
while time.time() < deadline and not any("is not in sync" in m for m in events()):
    time.sleep(0.1)
assert any("is not in sync" in m and "does not fail over" in m for m in events()), events()
time.sleep(1)
d = rds.describe_db_instances(DBInstanceIdentifier="ledger")["DBInstances"][0]
assert d["AvailabilityZone"] == primary, d  # waited for its primary instead of losing 50 commits
fault_api("DELETE", "/_squall/faults/" + cut_primary["id"])
c = connect()
assert [r[0] for r in c.execute("SELECT n FROM after_cut ORDER BY n").fetchall()] == list(range(1, 51))
c.close()
# With both zones back, the standby is rebuilt from the primary and failover works again.
deadline = time.time() + 20
while time.time() < deadline and not any("in sync." in m and "again" in m for m in events()):
    time.sleep(0.2)
assert any("has every write of the primary again" in m for m in events()), events()
rds.reboot_db_instance(DBInstanceIdentifier="ledger", ForceFailover=True)
d = wait_available(not_zone=primary)
c = connect()
assert c.execute("SELECT count(*) FROM after_cut").fetchone()[0] == 50
c.close()

# A single-AZ instance on stuck storage: statements wait (as I/O on a stuck EBS volume did),
# statement_timeout cancels them with 57014, and once the zone is back they go through.
solo_port = int(sys.argv[3])  # reserved by the runner, like the first port
rds.create_db_instance(
    DBInstanceIdentifier="solo", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
    MasterUsername="ledger_admin", MasterUserPassword="correct-horse", DBName="app", Port=solo_port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="solo", WaiterConfig=fast)
zone = rds.describe_db_instances(DBInstanceIdentifier="solo")["DBInstances"][0]["AvailabilityZone"]
solo_dsn = dsn.replace(f"port={port}", f"port={solo_port}")
solo = connect(to=solo_dsn)
solo.execute("CREATE TABLE waits (n INTEGER)")
solo.execute("SET statement_timeout = 700")
cut = fault_api("POST", "/_squall/faults", {"kind": "az-outage", "zone": zone, "region": "us-east-1"})
started = time.time()
try:
    solo.execute("INSERT INTO waits VALUES (1)")
    raise AssertionError("a write to stuck storage returned")
except psycopg.errors.QueryCanceled as e:
    waited = time.time() - started
    assert e.sqlstate == "57014" and 0.6 < waited < 5, (e.sqlstate, waited)
fault_api("DELETE", "/_squall/faults/" + cut["id"])
solo.execute("SET statement_timeout = 0")
deadline = time.time() + 20
while True:
    try:
        solo.execute("INSERT INTO waits VALUES (2)")
        break
    except psycopg.Error:
        assert time.time() < deadline, "the write never went through after the zone came back"
        time.sleep(0.2)
        try:
            solo.close()
        except psycopg.Error:
            pass
        solo = psycopg.connect(solo_dsn, autocommit=True)
assert 2 in [r[0] for r in solo.execute("SELECT n FROM waits").fetchall()]
solo.close()

# Made Multi-AZ: the new standby gets the primary's bytes (it is out of sync until then), and a
# failover to it keeps the rows.
rds.modify_db_instance(DBInstanceIdentifier="solo", MultiAZ=True, ApplyImmediately=True)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="solo", WaiterConfig=fast)
solo_events = lambda: [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="solo")["Events"]]
deadline = time.time() + 20
while time.time() < deadline and not any("has every write of the primary again" in m for m in solo_events()):
    time.sleep(0.2)
assert any("has every write of the primary again" in m for m in solo_events()), solo_events()
solo = connect(to=solo_dsn)
solo.execute("INSERT INTO waits VALUES (3)")
solo.close()
before = rds.describe_db_instances(DBInstanceIdentifier="solo")["DBInstances"][0]["AvailabilityZone"]
rds.reboot_db_instance(DBInstanceIdentifier="solo", ForceFailover=True)
deadline = time.time() + 30
while True:
    d = rds.describe_db_instances(DBInstanceIdentifier="solo")["DBInstances"][0]
    if d["DBInstanceStatus"] == "available" and d["AvailabilityZone"] != before:
        break
    assert time.time() < deadline, d
    time.sleep(0.1)
solo = connect(to=solo_dsn)
assert sorted(r[0] for r in solo.execute("SELECT n FROM waits").fetchall()) == [2, 3]
solo.close()
print("rds sql endpoint: ok")
