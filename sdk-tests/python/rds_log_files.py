"""DB log files through boto3 and psycopg against the squall at argv[1] (the instance's SQL
endpoint on port argv[2]): what the engine writes (connections, failed statements, shutdowns)
is listed by DescribeDBLogFiles and read back by DownloadDBLogFilePortion, page by page.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

import psycopg
from common import FAST, client, fails, pg_connect

endpoint = sys.argv[1]
port = int(sys.argv[2])
rds = client("rds", endpoint)

rds.create_db_instance(DBInstanceIdentifier="ledger", Engine="postgres", DBInstanceClass="db.t3.micro",
                       AllocatedStorage=20, MasterUsername="clerk", MasterUserPassword="ledger-pw-1", Port=port)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger", WaiterConfig=FAST)

with pg_connect(port, "clerk", "ledger-pw-1") as conn:
    conn.execute("CREATE TABLE entries (id int PRIMARY KEY, amount int)")
    try:
        conn.execute("SELECT amount FROM missing_table")
        raise AssertionError("a query of a missing table succeeded")
    except psycopg.errors.UndefinedTable:
        pass


def whole(name):
    """The file read in pages of 2 lines from the start, following the markers."""
    text, marker, pages = "", "0", 0
    while True:
        p = rds.download_db_log_file_portion(DBInstanceIdentifier="ledger", LogFileName=name, Marker=marker,
                                             NumberOfLines=2)
        text += p.get("LogFileData", "")
        marker, pages = p["Marker"], pages + 1
        if not p["AdditionalDataPending"]:
            return text, pages


def files():
    return rds.describe_db_log_files(DBInstanceIdentifier="ledger")["DescribeDBLogFiles"]


# The disconnection is written as the session ends: wait for it.
for _ in range(100):
    listed = files()
    if listed and "disconnection" in whole(listed[-1]["LogFileName"])[0]:
        break
    time.sleep(0.05)
(log,) = listed
hour = time.strftime("%Y-%m-%d-%H", time.gmtime())
assert log["LogFileName"] == f"error/postgresql.log.{hour}", log
assert log["Size"] > 0 and abs(log["LastWritten"] / 1000 - time.time()) < 120, log
text, pages = whole(log["LogFileName"])
assert pages >= 3, f"{pages} pages"
assert len(text.encode()) == log["Size"] or len(text.encode()) >= log["Size"], (len(text), log)
lines = text.splitlines()
assert "LOG:  database system is ready to accept connections" in lines[0], lines[0]
assert any("LOG:  connection received: host=127.0.0.1" in line for line in lines), text
failed = [i for i, line in enumerate(lines) if ":ERROR:  " in line]
assert len(failed) == 1, text
error, statement = lines[failed[0]], lines[failed[0] + 1]
assert "missing_table" in error and ":clerk@postgres:[" in error, error
assert statement.endswith("STATEMENT:  SELECT amount FROM missing_table"), statement
assert any("disconnection: session time: " in line and "user=clerk database=postgres" in line for line in lines), text
# RDS's prefix: %t:%r:%u@%d:[%p]:
assert lines[failed[0]].split(" UTC:")[0] .count(":") == 2 and " UTC:127.0.0.1(" in error, error

# The most recent lines when no marker is given.
tail = rds.download_db_log_file_portion(DBInstanceIdentifier="ledger", LogFileName=log["LogFileName"],
                                        NumberOfLines=1)
assert tail["LogFileData"].splitlines() == lines[-1:], tail
assert tail["AdditionalDataPending"] is False, tail
assert rds.describe_db_log_files(DBInstanceIdentifier="ledger", FilenameContains="mysql")["DescribeDBLogFiles"] == []
assert rds.describe_db_log_files(DBInstanceIdentifier="ledger", FileSize=10**9)["DescribeDBLogFiles"] == []

# A reboot writes the shutdown and the new start, in the same file.
rds.reboot_db_instance(DBInstanceIdentifier="ledger")
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="ledger", WaiterConfig=FAST)
pg_connect(port, "clerk", "ledger-pw-1").close()
text, _ = whole(log["LogFileName"])
assert "LOG:  received fast shutdown request" in text and "LOG:  database system is shut down" in text, text
assert text.count("database system is ready to accept connections") == 2, text

fails("DBLogFileNotFoundFault", rds.download_db_log_file_portion, DBInstanceIdentifier="ledger",
      LogFileName="error/postgresql.log.1999-01-01-00")
fails("DBLogFileNotFoundFault", rds.download_db_log_file_portion, DBInstanceIdentifier="ledger",
      LogFileName="../../../etc/passwd")
fails("InvalidParameterValue", rds.download_db_log_file_portion, DBInstanceIdentifier="ledger",
      LogFileName=log["LogFileName"], Marker="later")
fails("DBInstanceNotFound", rds.describe_db_log_files, DBInstanceIdentifier="nope")
print("boto3 rds log files: ok")
