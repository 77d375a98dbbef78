"""Committed rows of a DB instance's SQL endpoint survive kill -9 of squall (three writers
committing at once, so their commits share flushes), reboot, stop/start,
and a DB snapshot restores them: psycopg 3 and boto3 against the squall binary at argv[1], run
on the data directory argv[2] (started, killed and restarted by this script).

Run by server/tests/sql_durability.rs; exits non-zero on the first wrong answer. Prints its seed.
"""
import atexit
import os
import random
import socket
import subprocess
import sys
import threading
import time

import boto3
import psycopg
from botocore.config import Config

binary, data_dir = sys.argv[1], sys.argv[2]
seed = int(os.environ.get("SQUALL_SQL_DURABILITY_SEED", random.randrange(1 << 32)))
rng = random.Random(seed)
print(f"seed {seed} (SQUALL_SQL_DURABILITY_SEED={seed} repeats the kill times)", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


http, nbd, port, copy_port = free_port(), free_port(), free_port(), free_port()
endpoint = f"http://127.0.0.1:{http}"


def start():
    proc = subprocess.Popen(
        [binary, "--listen", f"127.0.0.1:{http}", "--nbd-listen", f"127.0.0.1:{nbd}", "--data-dir", data_dir,
         "--lifecycle-delay-ms", "50", "--log", "warn"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", http), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("squall did not start")


rds = boto3.client(
    "rds", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
    aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}),
)
fast = {"Delay": 1, "MaxAttempts": 60}


def dsn(p):
    return f"host=127.0.0.1 port={p} dbname=postgres user=keeper password=durable-pass connect_timeout=3"


def connect(p=port, seconds=30):
    deadline = time.time() + seconds
    while True:
        try:
            return psycopg.connect(dsn(p), autocommit=True)
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


proc = start()
# Whatever happens, no squall outlives the script.
atexit.register(lambda: proc.kill())
rds.create_db_instance(
    DBInstanceIdentifier="keeper", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
    MasterUsername="keeper", MasterUserPassword="durable-pass", Port=port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="keeper", WaiterConfig=fast)
c = connect()
c.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY, payload TEXT)")
c.close()

acknowledged = []
for trial in range(3):
    stop = threading.Event()

    def writer(lane):
        # Three writers at once: their commits share flushes (group commit).
        n = (trial + 1) * 1_000_000 + lane * 100_000
        try:
            w = connect()
            while not stop.is_set():
                n += 1
                if n % 7 == 0:
                    with w.transaction():  # a few rows per transaction, now and then
                        for k in range(3):
                            w.execute("INSERT INTO rows VALUES (%s, %s)", (n * 10 + k, "x" * 200))
                    # Acknowledged once the block has committed (its COMMIT answered), not before.
                    acknowledged.extend(n * 10 + k for k in range(3))
                else:
                    w.execute("INSERT INTO rows VALUES (%s, %s)", (n * 10, "y" * 100))
                    acknowledged.append(n * 10)
        except psycopg.Error:
            pass  # the server was killed: what was acknowledged is what counts

    threads = [threading.Thread(target=writer, args=(lane,)) for lane in range(3)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.5, 1.5))
    proc.kill()  # SIGKILL
    proc.wait()
    stop.set()
    for t in threads:
        t.join(10)
    proc = start()
    c = connect()
    present = {r[0] for r in c.execute("SELECT n FROM rows").fetchall()}
    lost = [n for n in acknowledged if n not in present]
    print(f"trial {trial}: {len(acknowledged)} rows acknowledged, {len(lost)} lost after kill -9", flush=True)
    assert not lost, lost[:10]
    c.close()
assert len(acknowledged) > 50, len(acknowledged)

# Reboot and stop/start keep the rows; a stopped instance's endpoint takes no connection.
count = connect().execute("SELECT count(*) FROM rows").fetchone()[0]
rds.reboot_db_instance(DBInstanceIdentifier="keeper")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="keeper", WaiterConfig=fast)
assert connect().execute("SELECT count(*) FROM rows").fetchone()[0] == count
rds.stop_db_instance(DBInstanceIdentifier="keeper")
deadline = time.time() + 30
while rds.describe_db_instances(DBInstanceIdentifier="keeper")["DBInstances"][0]["DBInstanceStatus"] != "stopped":
    assert time.time() < deadline, "keeper never stopped"
    time.sleep(0.2)
time.sleep(0.5)
try:
    psycopg.connect(dsn(port))
    raise AssertionError("a stopped instance took a connection")
except psycopg.OperationalError:
    pass
rds.start_db_instance(DBInstanceIdentifier="keeper")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="keeper", WaiterConfig=fast)
assert connect().execute("SELECT count(*) FROM rows").fetchone()[0] == count

# A DB snapshot restores the same rows into a new instance.
rds.create_db_snapshot(DBInstanceIdentifier="keeper", DBSnapshotIdentifier="keeper-snap")
rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier="keeper-snap", WaiterConfig=fast)
rds.restore_db_instance_from_db_snapshot(
    DBInstanceIdentifier="keeper-copy", DBSnapshotIdentifier="keeper-snap", Port=copy_port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="keeper-copy", WaiterConfig=fast)
copy = connect(copy_port)
assert copy.execute("SELECT count(*) FROM rows").fetchone()[0] == count
assert {r[0] for r in copy.execute("SELECT n FROM rows").fetchall()} >= set(acknowledged)
# The copy is its own database: a write there is not in the source.
copy.execute("INSERT INTO rows VALUES (-1, 'only in the copy')")
assert connect().execute("SELECT count(*) FROM rows WHERE n = -1").fetchone()[0] == 0
proc.kill()
proc.wait()
print("rds sql durability: ok")
