"""volume-io-pause on DB instances' storage through the fault API, seen through boto3 and psycopg 3,
against the squall at argv[1] (instances on ports argv[2], argv[3]): one stripe of a single-AZ
instance's four volumes paused makes the instance stuck — StatusInfos, an event, commits that
wait — and it serves again with every row once healed;
a Multi-AZ instance whose primary volumes are paused fails over to its standby by itself.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import threading
import time

from common import FAST, client, fault_api, pg_connect

endpoint, ports = sys.argv[1], [int(p) for p in sys.argv[2:4]]
rds = client("rds", endpoint)
fast = FAST


def faults(method, path, body=None):
    return fault_api(endpoint, method, path, body)


def connect(port):
    return pg_connect(port, "app", "correct-horse")


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
status, body = faults("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["nope"]})
assert status == 400 and "nope" in body["error"], (status, body)
status, body = faults("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["striped"], "dbVolume": 4})
assert status == 400 and "4 volumes" in body["error"], (status, body)
status, body = faults("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbVolume": 1})
assert status == 400, (status, body)

# One stripe of four paused: the whole instance is stuck, as 45% of single-AZ RDS instances were.
status, fault = faults("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["striped"], "dbVolume": 2})
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

status, _ = faults("DELETE", f"/_squall/faults/{fault['id']}")
assert status in (200, 204), status
writer.join(20)
assert not writer.is_alive() and done, "the commit never went through after the pause ended"
wait_for("the storage serves again", lambda: not stuck("striped"))
assert conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == 21
conn.close()

# A Multi-AZ primary whose volumes are paused: RDS fails over to the standby.
before = describe("paired")
status, fault = faults("POST", "/_squall/faults", {"kind": "volume-io-pause", "dbInstances": ["paired"]})
assert status == 201, (status, fault)
wait_for("the failover", lambda: describe("paired")["AvailabilityZone"] == before["SecondaryAvailabilityZone"], 30)
events = [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="paired")["Events"]]
assert "Multi-AZ instance failover completed" in events, events
faults("DELETE", f"/_squall/faults/{fault['id']}")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="paired", WaiterConfig=fast)
with connect(ports[1]) as c:
    assert c.execute("SELECT 1").fetchone() == (1,)
for instance in ("striped", "paired"):
    rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
print("rds volume-io-pause: ok")
