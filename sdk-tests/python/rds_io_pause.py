"""volume-io-pause on DB instances' storage through the fault API, seen through boto3 and psycopg 3,
against the squall at argv[1] (instances on ports argv[2], argv[3]): one stripe of a single-AZ
instance's four volumes paused makes the instance stuck — StatusInfos, an event, commits that
wait — and it serves again with every row once healed;
a Multi-AZ instance whose primary volumes are paused fails over to its standby by itself.

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

endpoint, ports = sys.argv[1], [int(p) for p in sys.argv[2:4]]
rds = boto3.client(
    "rds",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
fast = {"Delay": 1, "MaxAttempts": 60}


def fault_api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{endpoint}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def connect(port):
    dsn = f"host=127.0.0.1 port={port} dbname=postgres user=app password=correct-horse connect_timeout=5"
    for _ in range(100):
        try:
            return psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise AssertionError(f"the endpoint on {port} never took a connection")


def describe(instance):
    return rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]


def stuck(instance):
    infos = describe(instance).get("StatusInfos", [])
    return any(i["StatusType"] == "storage" and i["Status"] == "stuck" for i in infos)


def wait_for(what, check, seconds=15):
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, f"never: {what}"
        time.sleep(0.2)


base = dict(Engine="postgres", DBInstanceClass="db.t3.micro", MasterUsername="app", MasterUserPassword="correct-horse")
rds.create_db_instance(DBInstanceIdentifier="striped", AllocatedStorage=400, Port=ports[0], **base)
rds.create_db_instance(DBInstanceIdentifier="paired", AllocatedStorage=20, MultiAZ=True, Port=ports[1], **base)
for instance in ("striped", "paired"):
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=instance, WaiterConfig=fast)

conn = connect(ports[0])
conn.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, body TEXT)")
for i in range(20):
    conn.execute("INSERT INTO ledger VALUES (%s, %s)", (i, "x" * 20000))

# The fault API checks what it is given.
status, body = fault_api("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["nope"]})
assert status == 400 and "nope" in body["error"], (status, body)
status, body = fault_api("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["striped"], "dbVolume": 4})
assert status == 400 and "4 volumes" in body["error"], (status, body)
status, body = fault_api("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbVolume": 1})
assert status == 400, (status, body)

# One stripe of four paused: the whole instance is stuck, as 45% of single-AZ RDS instances were.
status, fault = fault_api("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["striped"], "dbVolume": 2})
assert status == 201, (status, fault)
wait_for("StatusInfos says the storage is stuck", lambda: stuck("striped"))
assert describe("striped")["DBInstanceStatus"] == "available"
events = rds.describe_events(SourceType="db-instance", SourceIdentifier="striped")["Events"]
assert any("not answering" in e["Message"] for e in events), events
# A commit waits while the storage is stuck (as I/O on a stuck EBS volume did) and goes through,
# acknowledged and kept, once the volume answers again.
done = []
writer = threading.Thread(target=lambda: done.append(conn.execute("INSERT INTO ledger VALUES (100, 'x')")))
writer.start()
writer.join(2.0)
assert writer.is_alive() and not done, "a commit went through while a stripe of the storage was paused"
assert stuck("striped")

status, _ = fault_api("DELETE", f"/_squall/faults/{fault['id']}")
assert status in (200, 204), status
writer.join(20)
assert not writer.is_alive() and done, "the commit never went through after the pause ended"
wait_for("the storage serves again", lambda: not stuck("striped"))
assert conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == 21
conn.close()

# A Multi-AZ primary whose volumes are paused: RDS fails over to the standby.
before = describe("paired")
status, fault = fault_api("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["paired"]})
assert status == 201, (status, fault)
wait_for("the failover", lambda: describe("paired")["AvailabilityZone"] == before["SecondaryAvailabilityZone"], 30)
events = [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="paired")["Events"]]
assert "Multi-AZ instance failover completed" in events, events
fault_api("DELETE", f"/_squall/faults/{fault['id']}")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="paired", WaiterConfig=fast)
with connect(ports[1]) as c:
    assert c.execute("SELECT 1").fetchone() == (1,)
for instance in ("striped", "paired"):
    rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
print("rds volume-io-pause: ok")
