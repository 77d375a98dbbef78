"""AWS's tag rules through boto3 against the squall at argv[1], in every service that takes
tags: EC2 (CreateTags, TagSpecifications), RDS (create, AddTagsToResource), the EBS direct APIs
(StartSnapshot) and FIS (templates, TagResource). Each refusal has the service's own error code
and says what is wrong; a refused request changes nothing.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

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
ec2 = boto3.client("ec2", **kw)
rds = boto3.client("rds", **kw)
ebs = boto3.client("ebs", **kw)
fis = boto3.client("fis", **kw)


def refused(call, code, words, **args):
    try:
        call(**args)
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, (call.__name__, err)
        assert words in err["Message"], (call.__name__, err)
        return
    raise AssertionError(f"{call.__name__} {args} was accepted")


LONG_KEY = "k" * 129
LONG_VALUE = "v" * 257

# --- EC2 ---------------------------------------------------------------------------------------
vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
for tags, words in [
    ([{"Key": "aws:owner", "Value": "x"}], "Tag keys starting with 'aws:' are reserved"),
    ([{"Key": "AWS:Owner", "Value": "x"}], "Tag keys starting with 'aws:' are reserved"),
    ([{"Key": LONG_KEY, "Value": "x"}], "Tag key exceeds the maximum length of 128 characters"),
    ([{"Key": "k", "Value": LONG_VALUE}], "Tag value exceeds the maximum length of 256 characters"),
    ([{"Key": "", "Value": "x"}], "Tag key cannot be empty"),
]:
    refused(ec2.create_tags, "InvalidParameterValue", words, Resources=[vol], Tags=tags)
    spec = [{"ResourceType": "volume", "Tags": tags}]
    refused(ec2.create_volume, "InvalidParameterValue", words, AvailabilityZone="us-east-1a", Size=1,
            TagSpecifications=spec)
# Characters, not bytes: 128 two-byte characters is a valid key.
ec2.create_tags(Resources=[vol], Tags=[{"Key": "é" * 128, "Value": "ü" * 256}])
refused(ec2.create_tags, "TagLimitExceeded", "50",
        Resources=[vol], Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
seen = ec2.describe_volumes(VolumeIds=[vol])["Volumes"][0]["Tags"]
assert seen == [{"Key": "é" * 128, "Value": "ü" * 256}], seen

# --- RDS ---------------------------------------------------------------------------------------
db = rds.create_db_instance(DBInstanceIdentifier="tagged", Engine="postgres", DBInstanceClass="db.t3.micro",
                            AllocatedStorage=20, MasterUsername="app", MasterUserPassword="secret123",
                            Tags=[{"Key": "team", "Value": "ledger"}])["DBInstance"]
arn = db["DBInstanceArn"]
for tags, words in [
    ([{"Key": "rds:owner", "Value": "x"}], "Tag keys starting with 'rds:' are reserved"),
    ([{"Key": "aws:owner", "Value": "x"}], "Tag keys starting with 'aws:' are reserved"),
    ([{"Key": "k", "Value": "aws:x"}], "Tag values starting with 'aws:' are reserved"),
    ([{"Key": LONG_KEY, "Value": "x"}], "Tag key exceeds the maximum length of 128 characters"),
    ([{"Key": "k", "Value": LONG_VALUE}], "Tag value exceeds the maximum length of 256 characters"),
]:
    refused(rds.add_tags_to_resource, "InvalidParameterValue", words, ResourceName=arn, Tags=tags)
refused(rds.create_db_instance, "InvalidParameterValue", "'rds:' are reserved",
        DBInstanceIdentifier="tagged-2", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
        MasterUsername="app", MasterUserPassword="secret123", Tags=[{"Key": "rds:x", "Value": "y"}])
refused(rds.add_tags_to_resource, "TagQuotaPerResourceExceeded", "50",
        ResourceName=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
listed = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
assert listed == [{"Key": "team", "Value": "ledger"}], listed
ids = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
assert ids == ["tagged"], ids

# --- EBS direct --------------------------------------------------------------------------------
for tags, words in [
    ([{"Key": "aws:owner", "Value": "x"}], "Tag keys starting with 'aws:' are reserved"),
    ([{"Key": "k" * 128, "Value": "x"}], "Tag key exceeds the maximum length of 127 characters"),
    ([{"Key": "k", "Value": "v" * 256}], "Tag value exceeds the maximum length of 255 characters"),
]:
    refused(ebs.start_snapshot, "ValidationException", words, VolumeSize=1, Tags=tags)
snap = ebs.start_snapshot(VolumeSize=1, Tags=[{"Key": "k" * 127, "Value": "v" * 255}])
assert snap["Tags"] == [{"Key": "k" * 127, "Value": "v" * 255}], snap

# --- FIS ---------------------------------------------------------------------------------------
ROLE = "arn:aws:iam::000000000000:role/fis-drills"


def template(**extra):
    return dict(description="tags", roleArn=ROLE, stopConditions=[{"source": "none"}],
                actions={"wait": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}}}, **extra)


refused(fis.create_experiment_template, "ValidationException", "Tag keys starting with 'aws:' are reserved",
        **template(tags={"aws:owner": "x"}))
refused(fis.create_experiment_template, "ValidationException", "maximum length of 256",
        **template(tags={"k": LONG_VALUE}))
t = fis.create_experiment_template(**template(tags={"team": "sre"}))["experimentTemplate"]
tarn = f"arn:aws:fis:us-east-1:000000000000:experiment-template/{t['id']}"
refused(fis.tag_resource, "ValidationException", "maximum length of 128", resourceArn=tarn, tags={LONG_KEY: "x"})
refused(fis.tag_resource, "ValidationException", "The maximum number of tags per resource is 50.",
        resourceArn=tarn, tags={f"k{i}": "v" for i in range(50)})
assert fis.list_tags_for_resource(resourceArn=tarn)["tags"] == {"team": "sre"}
refused(fis.start_experiment, "ValidationException", "'aws:' are reserved",
        experimentTemplateId=t["id"], tags={"aws:x": "y"})
assert fis.list_experiments()["experiments"] == []

print("boto3 tags: ok")
