"""The EC2 instance lifecycle through boto3 (PyPI), against the squall at argv[1]: a key pair,
a subnet of the default VPC, launch with a data volume, boto3's waiters, stop/start, terminate.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
ec2 = boto3.client(
    "ec2",
    endpoint_url=endpoint,
    region_name="eu-west-3",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
fast = {"Delay": 1, "MaxAttempts": 60}

key = ec2.create_key_pair(KeyName="deploy", KeyType="ed25519")
assert key["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----"), key

subnet = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": ["eu-west-3b"]}])["Subnets"][0]
assert subnet["DefaultForAz"] and subnet["CidrBlock"] == "172.31.16.0/20", subnet

image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"][0]
run = ec2.run_instances(
    ImageId=image["ImageId"],
    InstanceType="t3.small",
    MinCount=1,
    MaxCount=1,
    KeyName="deploy",
    SubnetId=subnet["SubnetId"],
    UserData="#!/bin/sh\necho hello\n",
    BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 2, "DeleteOnTermination": False}}],
    TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "api"}]}],
)
inst = run["Instances"][0]
iid = inst["InstanceId"]
assert inst["State"]["Name"] == "pending", inst["State"]
assert inst["Placement"]["AvailabilityZone"] == "eu-west-3b"
assert inst["PrivateIpAddress"].startswith("172.31.16."), inst["PrivateIpAddress"]
devices = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]}
assert set(devices) == {"/dev/xvda", "/dev/sdf"}, devices

ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=fast)
ec2.get_waiter("instance_status_ok").wait(InstanceIds=[iid], WaiterConfig=fast)
status = ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"][0]
assert status["InstanceStatus"]["Status"] == "ok" and status["SystemStatus"]["Status"] == "ok", status

# boto3 base64-encodes UserData on the way in; DescribeInstanceAttribute returns it encoded.
import base64
ud = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
assert base64.b64decode(ud) == b"#!/bin/sh\necho hello\n", ud

ec2.stop_instances(InstanceIds=[iid])
ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=fast)
described = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
assert described["StateTransitionReason"].startswith("User initiated ("), described["StateTransitionReason"]
ec2.start_instances(InstanceIds=[iid])
ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=fast)

ec2.terminate_instances(InstanceIds=[iid])
ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=fast)
try:
    ec2.stop_instances(InstanceIds=[iid])
    raise AssertionError("stopping a terminated instance succeeded")
except ClientError as e:
    assert e.response["Error"]["Code"] == "IncorrectInstanceState", e.response

ec2.get_waiter("volume_deleted").wait(VolumeIds=[devices["/dev/xvda"]], WaiterConfig=fast)
kept = ec2.describe_volumes(VolumeIds=[devices["/dev/sdf"]])["Volumes"][0]
assert kept["State"] == "available" and kept["Attachments"] == [], kept

print("boto3 instance lifecycle: ok")
