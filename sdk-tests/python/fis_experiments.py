"""AWS FIS through boto3 against the squall at argv[1]: experiment templates checked as FIS
checks them, experiments whose actions act on the region's resources through squall's fault
engine — chained by startAfter, ended by their duration or by StopExperiment, which undoes what
is still in force — and targets chosen by tags, filters, COUNT and PERCENT.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import json
import sys
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

endpoint = sys.argv[1]
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
fis = boto3.client("fis", **kw)
ec2 = boto3.client("ec2", **kw)
rds = boto3.client("rds", **kw)
ROLE = "arn:aws:iam::000000000000:role/fis-drills"


def squall(path):
    with urllib.request.urlopen(endpoint + path) as r:
        raw = r.read()
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw.decode()


def template(actions, targets=None, **extra):
    return fis.create_experiment_template(
        description="squall drill",
        roleArn=ROLE,
        stopConditions=[{"source": "none"}],
        targets=targets or {},
        actions=actions,
        **extra,
    )["experimentTemplate"]


def wait_for_experiment(experiment_id, states, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        e = fis.get_experiment(id=experiment_id)["experiment"]
        if e["state"]["status"] in states:
            return e
        time.sleep(0.1)
    raise AssertionError(f"experiment {experiment_id} never reached {states}: {e['state']}")


def volume_status(volume):
    return ec2.describe_volume_status(VolumeIds=[volume])["VolumeStatuses"][0]["VolumeStatus"]["Status"]


def validation_error(**kwargs):
    try:
        fis.create_experiment_template(
            description="bad", roleArn=ROLE, stopConditions=[{"source": "none"}], **kwargs
        )
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "ValidationException", e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return e.response["Error"]["Message"]
    raise AssertionError(f"a bad template was accepted: {kwargs}")


# The catalogue says what squall runs.
actions = {a["id"] for a in fis.list_actions()["actions"]}
assert {"aws:ebs:pause-volume-io", "aws:ec2:stop-instances", "aws:rds:reboot-db-instances", "aws:fis:wait",
        "aws:network:disrupt-connectivity", "aws:fis:inject-api-internal-error"} <= actions, actions
pause = fis.get_action(id="aws:ebs:pause-volume-io")["action"]
assert pause["targets"] == {"Volumes": {"resourceType": "aws:ec2:ebs-volume"}}, pause
assert pause["parameters"]["duration"]["required"] is True, pause
types = {t["resourceType"] for t in fis.list_target_resource_types()["targetResourceTypes"]}
assert {"aws:ec2:instance", "aws:ec2:ebs-volume", "aws:ec2:subnet", "aws:rds:db"} <= types, types

# Bad templates: each problem named.
vols = {"vols": {"resourceType": "aws:ec2:ebs-volume", "resourceTags": {"drill": "on"}, "selectionMode": "ALL"}}
message = validation_error(actions={"a": {"actionId": "aws:ec2:melt-down"}})
assert "unknown action ID aws:ec2:melt-down" in message, message
message = validation_error(
    targets=vols,
    actions={"p": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "2 minutes"}, "targets": {"Volumes": "vols"}}},
)
assert "duration" in message and "ISO 8601" in message, message
message = validation_error(
    actions={"p": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT1M"}, "targets": {"Volumes": "ghost"}}},
)
assert "target ghost is not defined" in message, message
message = validation_error(
    actions={
        "a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1S"}, "startAfter": ["b"]},
        "b": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1S"}, "startAfter": ["a"]},
    },
)
assert "cycle" in message, message
message = validation_error(
    targets={"v": {"resourceType": "aws:ec2:ebs-volume", "resourceTags": {"a": "b"}, "selectionMode": "SOME(3)"}},
    actions={"p": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT1M"}, "targets": {"Volumes": "v"}}},
)
assert "selectionMode SOME(3)" in message, message

# Four volumes in one zone for the drill, one elsewhere.
zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
drill = [
    ec2.create_volume(
        AvailabilityZone=zones[0], Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "drill", "Value": "on"}]}],
    )["VolumeId"]
    for _ in range(4)
]
elsewhere = ec2.create_volume(
    AvailabilityZone=zones[1], Size=1, TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "drill", "Value": "on"}]}]
)["VolumeId"]
ec2.get_waiter("volume_available").wait(VolumeIds=drill + [elsewhere], WaiterConfig={"Delay": 1, "MaxAttempts": 30})

# Two actions chained by startAfter, run to completion: the pause starts when the wait ends,
# volumes are impaired while it runs and recover when it ends.
chained = template(
    targets={"vols": {"resourceType": "aws:ec2:ebs-volume", "resourceTags": {"drill": "on"}, "selectionMode": "ALL",
                      "filters": [{"path": "AvailabilityZone", "values": [zones[0]]}]}},
    actions={
        "settle": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1S"}},
        "pause": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT2S"},
                  "targets": {"Volumes": "vols"}, "startAfter": ["settle"]},
    },
    tags={"team": "storage"},
)
assert chained["arn"].endswith(":experiment-template/" + chained["id"]), chained
assert fis.get_experiment_template(id=chained["id"])["experimentTemplate"]["actions"]["pause"]["startAfter"] == ["settle"]
started = fis.start_experiment(experimentTemplateId=chained["id"], tags={"run": "1"})["experiment"]
assert started["state"]["status"] in ("pending", "initiating", "running"), started["state"]
running = wait_for_experiment(started["id"], ["running"])
deadline = time.time() + 5
while fis.get_experiment(id=started["id"])["experiment"]["actions"]["pause"]["state"]["status"] != "running":
    assert time.time() < deadline, "the pause never started"
    time.sleep(0.1)
assert all(volume_status(v) == "impaired" for v in drill), [volume_status(v) for v in drill]
assert volume_status(elsewhere) == "ok", "a volume outside the filter was paused"
assert squall("/_squall/status")["experiments"][0]["state"] == "running"
assert 'squall_fis_actions_running{region="us-east-1"} 1' in squall("/metrics")
done = wait_for_experiment(started["id"], ["completed"])
settle, paused = done["actions"]["settle"], done["actions"]["pause"]
assert settle["state"]["status"] == paused["state"]["status"] == "completed", done["actions"]
assert paused["startTime"] >= settle["endTime"], (settle, paused)
assert 1.5 <= (paused["endTime"] - paused["startTime"]).total_seconds() <= 3.5, paused
assert all(volume_status(v) == "ok" for v in drill), "volumes did not recover when the pause ended"
resolved = fis.list_experiment_resolved_targets(experimentId=started["id"])["resolvedTargets"]
assert sorted(t["targetInformation"]["identifier"].rsplit("/", 1)[1] for t in resolved) == sorted(drill), resolved
assert [e["id"] for e in fis.list_experiments(experimentTemplateId=chained["id"])["experiments"]] == [started["id"]]

# StopExperiment heals mid-way: the pause is undone, the experiment is stopped.
long_pause = template(
    targets={"vols": {"resourceType": "aws:ec2:ebs-volume", "resourceArns": [f"arn:aws:ec2:us-east-1:000000000000:volume/{drill[0]}"], "selectionMode": "ALL"}},
    actions={"pause": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT10M"}, "targets": {"Volumes": "vols"}}},
)
e = fis.start_experiment(experimentTemplateId=long_pause["id"])["experiment"]
wait_for_experiment(e["id"], ["running"])
deadline = time.time() + 5
while volume_status(drill[0]) != "impaired":
    assert time.time() < deadline, "the long pause never bit"
    time.sleep(0.1)
stopped = fis.stop_experiment(id=e["id"])["experiment"]
assert stopped["state"]["status"] in ("stopping", "stopped"), stopped["state"]
stopped = wait_for_experiment(e["id"], ["stopped"])
assert stopped["actions"]["pause"]["state"]["status"] == "stopped", stopped["actions"]
assert volume_status(drill[0]) == "ok", "StopExperiment left the volume paused"
assert squall("/_squall/faults")["faults"] == [], "StopExperiment left a fault rule in force"
try:
    fis.stop_experiment(id=e["id"])
    raise AssertionError("a stopped experiment was stopped again")
except botocore.exceptions.ClientError as err:
    assert err.response["Error"]["Code"] == "ConflictException", err.response

# Targets by tags with COUNT and PERCENT: as many as asked, chosen among the tagged ones.
for mode, expected in [("COUNT(2)", 2), ("PERCENT(50)", 2), ("PERCENT(25)", 1)]:
    t = template(
        targets={"some": {"resourceType": "aws:ec2:ebs-volume", "resourceTags": {"drill": "on"}, "selectionMode": mode,
                          "parameters": {"availabilityZoneIdentifier": zones[0]}}},
        actions={"pause": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT1S"}, "targets": {"Volumes": "some"}}},
    )
    e = fis.start_experiment(experimentTemplateId=t["id"])["experiment"]
    wait_for_experiment(e["id"], ["completed"])
    chosen = [r["targetInformation"]["identifier"].rsplit("/", 1)[1]
              for r in fis.list_experiment_resolved_targets(experimentId=e["id"])["resolvedTargets"]]
    assert len(chosen) == expected and set(chosen) <= set(drill), (mode, chosen)

# A target that resolves to nothing fails the experiment, unless the template says skip.
nothing = {"none": {"resourceType": "aws:ec2:ebs-volume", "resourceTags": {"drill": "never"}, "selectionMode": "ALL"}}
pause_none = {"pause": {"actionId": "aws:ebs:pause-volume-io", "parameters": {"duration": "PT1S"}, "targets": {"Volumes": "none"}}}
e = fis.start_experiment(experimentTemplateId=template(actions=pause_none, targets=nothing)["id"])["experiment"]
failed = wait_for_experiment(e["id"], ["failed"])
assert "resolved to no resources" in failed["state"]["reason"], failed["state"]
skipping = template(actions=pause_none, targets=nothing, experimentOptions={"emptyTargetResolutionMode": "skip"})
e = fis.start_experiment(experimentTemplateId=skipping["id"])["experiment"]
skipped = wait_for_experiment(e["id"], ["completed"])
assert skipped["actions"]["pause"]["state"]["status"] == "skipped", skipped["actions"]

# API errors: DescribeVolumes fails while the action runs, and answers again once it is stopped.
errors = template(
    targets={"roles": {"resourceType": "aws:iam:role", "resourceArns": [ROLE], "selectionMode": "ALL"}},
    actions={"fail": {"actionId": "aws:fis:inject-api-internal-error", "targets": {"Roles": "roles"},
                      "parameters": {"duration": "PT5M", "service": "ec2", "operations": "DescribeVolumes", "percentage": "100"}}},
)
e = fis.start_experiment(experimentTemplateId=errors["id"])["experiment"]
wait_for_experiment(e["id"], ["running"])
deadline = time.time() + 5
while True:
    try:
        ec2.describe_volumes(VolumeIds=drill[:1])
    except botocore.exceptions.ClientError as err:
        assert err.response["Error"]["Code"] == "InternalError", err.response
        break
    assert time.time() < deadline, "DescribeVolumes never failed"
    time.sleep(0.1)
ec2.describe_availability_zones()  # other operations are untouched
fis.stop_experiment(id=e["id"])
ec2.describe_volumes(VolumeIds=drill[:1])

# Instances: stopped by the action, started again when the experiment is stopped.
reservation = ec2.run_instances(ImageId="ami-12345678", InstanceType="t3.micro", MinCount=2, MaxCount=2,
                                Placement={"AvailabilityZone": zones[0]},
                                TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "AzImpairmentPower", "Value": "StopInstances"}]}])
ids = [i["InstanceId"] for i in reservation["Instances"]]
ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
stop = template(
    targets={"az": {"resourceType": "aws:ec2:instance", "resourceTags": {"AzImpairmentPower": "StopInstances"}, "selectionMode": "ALL",
                    "filters": [{"path": "State.Name", "values": ["running"]}, {"path": "Placement.AvailabilityZone", "values": [zones[0]]}]}},
    actions={"stop": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "az"},
                      "parameters": {"startInstancesAfterDuration": "PT30M", "completeIfInstancesTerminated": "true"}}},
)
e = fis.start_experiment(experimentTemplateId=stop["id"])["experiment"]
wait_for_experiment(e["id"], ["running"])
ec2.get_waiter("instance_stopped").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
fis.stop_experiment(id=e["id"])
ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 30})

# RDS: a forced failover of a Multi-AZ instance through aws:rds:reboot-db-instances.
rds.create_db_instance(DBInstanceIdentifier="orders", Engine="mysql", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                       MasterUsername="admin", MasterUserPassword="correct-horse", MultiAZ=True,
                       Tags=[{"Key": "DisruptRds", "Value": "yes"}])
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
before = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
failover = template(
    targets={"dbs": {"resourceType": "aws:rds:db", "resourceTags": {"DisruptRds": "yes"}, "selectionMode": "ALL"}},
    actions={"failover": {"actionId": "aws:rds:reboot-db-instances", "targets": {"DBInstances": "dbs"},
                          "parameters": {"forceFailover": "true"}}},
)
e = fis.start_experiment(experimentTemplateId=failover["id"])["experiment"]
wait_for_experiment(e["id"], ["completed"])
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="orders", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
after = rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
assert after["AvailabilityZone"] == before["SecondaryAvailabilityZone"], (before, after)
events = [ev["Message"] for ev in rds.describe_events(SourceIdentifier="orders", SourceType="db-instance")["Events"]]
assert "Multi-AZ instance failover completed" in events, events

# squall's stop condition: the experiment stops when more volumes are stuck than it allows
# (here a partition of half the zone's storage nodes, installed through the fault API).
guarded = fis.create_experiment_template(
    description="stop when volumes get stuck", roleArn=ROLE,
    stopConditions=[{"source": "squall:stuck-volumes", "value": "more than 1 stuck volume"}],
    actions={"hold": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT10M"}}},
)["experimentTemplate"]
e = fis.start_experiment(experimentTemplateId=guarded["id"])["experiment"]
wait_for_experiment(e["id"], ["running"])
partition = json.loads(urllib.request.urlopen(urllib.request.Request(
    endpoint + "/_squall/faults", method="POST", headers={"Content-Type": "application/json"},
    data=json.dumps({"kind": "network-partition", "zone": zones[0], "fraction": 0.5, "seed": 7}).encode())).read())
halted = wait_for_experiment(e["id"], ["stopped"])
assert halted["state"]["reason"].startswith("Stop condition squall:stuck-volumes fired"), halted["state"]
assert halted["actions"]["hold"]["state"]["status"] == "stopped", halted["actions"]
urllib.request.urlopen(urllib.request.Request(endpoint + "/_squall/faults/" + partition["id"], method="DELETE"))

# Templates: update, tags by ARN, delete.
updated = fis.update_experiment_template(id=chained["id"], description="renamed",
                                         actions={"settle": {"parameters": {"duration": "PT3S"}}, "pause": {}})["experimentTemplate"]
assert updated["description"] == "renamed" and updated["actions"]["settle"]["parameters"] == {"duration": "PT3S"}, updated
assert updated["actions"]["pause"]["actionId"] == "aws:ebs:pause-volume-io", updated
fis.tag_resource(resourceArn=chained["arn"], tags={"owner": "sre"})
assert fis.list_tags_for_resource(resourceArn=chained["arn"])["tags"] == {"team": "storage", "owner": "sre"}
fis.untag_resource(resourceArn=chained["arn"], tagKeys=["team", "owner"])
assert fis.list_tags_for_resource(resourceArn=chained["arn"])["tags"] == {}
fis.delete_experiment_template(id=chained["id"])
try:
    fis.get_experiment_template(id=chained["id"])
    raise AssertionError("a deleted template was found")
except botocore.exceptions.ClientError as err:
    assert err.response["Error"]["Code"] == "ResourceNotFoundException", err.response

print("fis experiments: ok")
