"""Two RDS settings reach the control plane, through boto3 against the squall at argv[1], started
with `--rds-address argv[2]` and a failover detection time far above the default's 2 s: the
endpoint answers that address, and an outage of the primary's zone does not fail the instance
over within twice the default detection time (it would with the default).

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import json
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

endpoint, address = sys.argv[1], sys.argv[2]
rds = boto3.client(
    "rds",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)


def fault_api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


rds.create_db_instance(
    DBInstanceIdentifier="slow-detect",
    DBInstanceClass="db.t3.micro",
    Engine="mysql",
    AllocatedStorage=20,
    MasterUsername="admin",
    MasterUserPassword="s3cret-pass",
    MultiAZ=True,
)
rds.get_waiter("db_instance_available").wait(
    DBInstanceIdentifier="slow-detect", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
)
db = rds.describe_db_instances(DBInstanceIdentifier="slow-detect")["DBInstances"][0]
assert db["Endpoint"] == {"Address": address, "Port": 4510, "HostedZoneId": "Z2R2ITUGPM61AM"}, db["Endpoint"]

primary = db["AvailabilityZone"]
fault = fault_api("POST", "/_squall/faults", {"kind": "az-outage", "zone": primary})
zones = lambda: fault_api("GET", "/_squall/status")["regions"]["us-east-1"]
deadline = time.time() + 5
while time.time() < deadline and not any(z["name"] == primary and z["dbInstances"]["stuck"] for z in zones()):
    time.sleep(0.05)
assert any(z["name"] == primary and z["dbInstances"]["stuck"] == 1 for z in zones()), zones()
time.sleep(4)  # twice the default detection time
db = rds.describe_db_instances(DBInstanceIdentifier="slow-detect")["DBInstances"][0]
assert db["AvailabilityZone"] == primary and db["DBInstanceStatus"] == "available", db
# Its storage is stuck, and the instance says so.
info = db["StatusInfos"]
assert [(i["StatusType"], i["Normal"], i["Status"]) for i in info] == [("storage", False, "stuck")], info
messages = [e["Message"] for e in rds.describe_events(SourceType="db-instance", SourceIdentifier="slow-detect")["Events"]]
assert not any("failover" in m for m in messages), messages
assert any(m.startswith(f"The storage of the DB instance in {primary} is not answering") for m in messages), messages
fault_api("DELETE", "/_squall/faults/" + fault["id"])

print("boto3 rds settings: ok")
