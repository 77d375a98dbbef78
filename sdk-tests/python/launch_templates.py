"""Launch templates as suites and Terraform's aws_launch_template use them, against the squall
at argv[1] started with --lifecycle-delay-ms 0: create with data and tags, versions from a
source version, the default version, RunInstances from a template ($Default, $Latest, a number)
with the request's parameters winning, GetLaunchTemplateData, deletion of versions and
templates, with EC2's codes.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import base64
import sys

from common import client, fails

ec2 = client("ec2", sys.argv[1])
image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
group = ec2.create_security_group(GroupName="lt-web", Description="web")["GroupId"]
user_data = base64.b64encode(b"#!/bin/sh\necho from-template\n").decode()

data = {
    "ImageId": image,
    "InstanceType": "t3.micro",
    "SecurityGroupIds": [group],
    "UserData": user_data,
    "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 3, "VolumeType": "gp3",
                                                              "DeleteOnTermination": True}}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"},
                                                                {"Key": "env", "Value": "template"}]},
                          {"ResourceType": "volume", "Tags": [{"Key": "from", "Value": "template"}]}],
    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
    "Monitoring": {"Enabled": True},
}
created = ec2.create_launch_template(
    LaunchTemplateName="web-servers", VersionDescription="first", LaunchTemplateData=data,
    TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": "a"}]}])["LaunchTemplate"]
lt = created["LaunchTemplateId"]
assert lt.startswith("lt-") and len(lt) == 20, created
assert created["DefaultVersionNumber"] == 1 and created["LatestVersionNumber"] == 1, created
assert created["CreatedBy"].startswith("arn:aws:iam::") and created["Tags"] == [{"Key": "team", "Value": "a"}], created
fails("InvalidLaunchTemplateName.AlreadyExistsException", ec2.create_launch_template,
      LaunchTemplateName="web-servers", LaunchTemplateData={"ImageId": image})
fails("InvalidLaunchTemplateName.MalformedException", ec2.create_launch_template,
      LaunchTemplateName="no spaces", LaunchTemplateData={"ImageId": image})

# The version shows the data as given.
(v1,) = ec2.describe_launch_template_versions(LaunchTemplateId=lt)["LaunchTemplateVersions"]
shown = v1["LaunchTemplateData"]
assert v1["VersionNumber"] == 1 and v1["DefaultVersion"] is True and v1["VersionDescription"] == "first", v1
assert shown["ImageId"] == image and shown["InstanceType"] == "t3.micro" and shown["UserData"] == user_data, shown
assert shown["SecurityGroupIds"] == [group] and shown["MetadataOptions"]["HttpPutResponseHopLimit"] == 2, shown
assert shown["BlockDeviceMappings"][0]["Ebs"] == {"VolumeSize": 3, "VolumeType": "gp3", "DeleteOnTermination": True}, shown

# Version 2 from version 1: only InstanceType replaced.
v2 = ec2.create_launch_template_version(LaunchTemplateName="web-servers", SourceVersion="1",
                                        VersionDescription="bigger",
                                        LaunchTemplateData={"InstanceType": "t3.small"})["LaunchTemplateVersion"]
assert v2["VersionNumber"] == 2 and v2["DefaultVersion"] is False, v2
assert v2["LaunchTemplateData"]["InstanceType"] == "t3.small" and v2["LaunchTemplateData"]["ImageId"] == image, v2
fails("InvalidLaunchTemplateId.VersionNotFound", ec2.create_launch_template_version, LaunchTemplateId=lt,
      SourceVersion="7", LaunchTemplateData={"InstanceType": "t3.large"})
latest = ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["$Latest"])["LaunchTemplateVersions"]
assert [v["VersionNumber"] for v in latest] == [2], latest
by_type = ec2.describe_launch_template_versions(LaunchTemplateId=lt, Filters=[{"Name": "instance-type",
                                                                              "Values": ["t3.small"]}])
assert [v["VersionNumber"] for v in by_type["LaunchTemplateVersions"]] == [2], by_type

# Launch from the default version: the template's data, the request's tags win on a key, and
# the instance carries the template's id and version.
run = ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateName": "web-servers"},
                        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "env", "Value": "request"}]}])
i = run["Instances"][0]
tags = {t["Key"]: t["Value"] for t in i["Tags"]}
assert i["ImageId"] == image and i["InstanceType"] == "t3.micro", i
assert tags == {"role": "web", "env": "request", "aws:ec2launchtemplate:id": lt,
                "aws:ec2launchtemplate:version": "1"}, tags
assert [g["GroupId"] for g in i["SecurityGroups"]] == [group], i
assert i["MetadataOptions"]["HttpTokens"] == "required" and i["Monitoring"]["State"] == "enabled", i
devices = {b["DeviceName"]: b["Ebs"]["VolumeId"] for b in i["BlockDeviceMappings"]}
assert "/dev/sdf" in devices, devices
vol = ec2.describe_volumes(VolumeIds=[devices["/dev/sdf"]])["Volumes"][0]
assert vol["Size"] == 3 and vol["VolumeType"] == "gp3" and {"Key": "from", "Value": "template"} in vol["Tags"], vol
attr = ec2.describe_instance_attribute(InstanceId=i["InstanceId"], Attribute="userData")
assert attr["UserData"]["Value"] == user_data, attr

# $Latest, a number, and the request overriding the template's type.
assert ec2.run_instances(MinCount=1, MaxCount=1, LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"}
                         )["Instances"][0]["InstanceType"] == "t3.small"
assert ec2.run_instances(MinCount=1, MaxCount=1, InstanceType="m5.large",
                         LaunchTemplate={"LaunchTemplateId": lt, "Version": "2"})["Instances"][0]["InstanceType"] == "m5.large"
fails("InvalidLaunchTemplateId.VersionNotFound", ec2.run_instances, MinCount=1, MaxCount=1,
      LaunchTemplate={"LaunchTemplateId": lt, "Version": "9"})
fails("InvalidLaunchTemplateName.NotFoundException", ec2.run_instances, MinCount=1, MaxCount=1,
      LaunchTemplate={"LaunchTemplateName": "nope"})
fails("InvalidLaunchTemplateId.Malformed", ec2.run_instances, MinCount=1, MaxCount=1,
      LaunchTemplate={"LaunchTemplateId": "lt-nope"})

# GetLaunchTemplateData describes a running instance as launch parameters.
got = ec2.get_launch_template_data(InstanceId=i["InstanceId"])["LaunchTemplateData"]
assert got["ImageId"] == image and got["InstanceType"] == "t3.micro", got
assert sorted(b["DeviceName"] for b in got["BlockDeviceMappings"]) == sorted(devices), got
assert got["NetworkInterfaces"][0]["DeviceIndex"] == 0 and got["MetadataOptions"]["HttpTokens"] == "required", got

# The default version moves; the default version cannot be deleted; numbers are not reused.
modified = ec2.modify_launch_template(LaunchTemplateId=lt, DefaultVersion="2")["LaunchTemplate"]
assert modified["DefaultVersionNumber"] == 2, modified
listed = ec2.describe_launch_templates(Filters=[{"Name": "tag:team", "Values": ["a"]}])["LaunchTemplates"]
assert [(t["LaunchTemplateId"], t["DefaultVersionNumber"], t["LatestVersionNumber"]) for t in listed] == [(lt, 2, 2)]
deleted = ec2.delete_launch_template_versions(LaunchTemplateId=lt, Versions=["1", "2", "5"])
assert [d["VersionNumber"] for d in deleted["SuccessfullyDeletedLaunchTemplateVersions"]] == [1], deleted
refused = {d["VersionNumber"]: d["ResponseError"]["Code"] for d in deleted["UnsuccessfullyDeletedLaunchTemplateVersions"]}
assert refused == {2: "unexpectedError", 5: "launchTemplateVersionDoesNotExist"}, refused
v3 = ec2.create_launch_template_version(LaunchTemplateId=lt, LaunchTemplateData={"ImageId": image})
assert v3["LaunchTemplateVersion"]["VersionNumber"] == 3, v3

fails("InvalidLaunchTemplateName.NotFoundException", ec2.describe_launch_templates, LaunchTemplateNames=["nope"])
fails("InvalidLaunchTemplateId.NotFound", ec2.describe_launch_templates, LaunchTemplateIds=["lt-0123456789abcdef0"])
fails("MissingParameter", ec2.describe_launch_template_versions, Versions=["1"])
gone = ec2.delete_launch_template(LaunchTemplateName="web-servers")["LaunchTemplate"]
assert gone["LaunchTemplateId"] == lt, gone
fails("InvalidLaunchTemplateId.NotFound", ec2.delete_launch_template, LaunchTemplateId=lt)

print("boto3 launch templates: ok")
