"""`--rds-log-backup-ms` end to end, against a squall started with a 60 s interval at argv[1]
(the instance on port argv[2], a restore on argv[3]): the database's first writes (its opening) get
a log backup at once, and nothing written within the next 60 s gets one, so a restore to a time
between two later batches goes back to before the table existed (with the 1 s default it holds
the rows written by then).

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import datetime
import sys
import time

import psycopg
from common import FAST, client, pg_connect

endpoint, port, restored_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rds = client("rds", endpoint)


def insert(first, count):
    with pg_connect(port, "keeper", "correct-horse") as conn:
        for i in range(first, first + count):
            conn.execute("INSERT INTO entries VALUES (%s)", (i,))
    time.sleep(1.5)  # longer than the default interval, far shorter than 60 s


rds.create_db_instance(DBInstanceIdentifier="ledger", Engine="postgres", DBInstanceClass="db.t3.micro",
                       AllocatedStorage=20, MasterUsername="keeper", MasterUserPassword="correct-horse",
                       BackupRetentionPeriod=1, Port=port)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger", WaiterConfig=FAST)
pg_connect(port, "keeper", "correct-horse").close()
time.sleep(1.0)  # the opening's log backup is taken
with pg_connect(port, "keeper", "correct-horse") as conn:
    conn.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY)")
insert(0, 10)
insert(10, 10)
between = datetime.datetime.now(datetime.timezone.utc)
insert(20, 10)
rds.restore_db_instance_to_point_in_time(SourceDBInstanceIdentifier="ledger", TargetDBInstanceIdentifier="ledger-at",
                                         RestoreTime=between, Port=restored_port)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger-at", WaiterConfig=FAST)
try:
    with pg_connect(restored_port, "keeper", "correct-horse") as conn:
        rows = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    raise AssertionError(f"{rows} rows: writes within the interval got a log backup of their own")
except psycopg.errors.UndefinedTable:
    pass
print("rds log backup interval: ok")
