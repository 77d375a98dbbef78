"""Instance options suites set and read through boto3 against the squall at argv[1]:
DescribeInstanceTypeOfferings by region, zone and zone id; detailed monitoring; the instance
metadata service's options; CPU credit options of burstable types — with EC2's error codes.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

from common import client, fails

ec2 = client("ec2", sys.argv[1])
ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

# Offerings: the catalogue's types, where they are offered.
types = {t["InstanceType"] for t in ec2.describe_instance_types()["InstanceTypes"]}
offered = ec2.describe_instance_type_offerings()["InstanceTypeOfferings"]
assert {o["InstanceType"] for o in offered} == types and {o["Location"] for o in offered} == {"us-east-1"}, offered
zones = ec2.describe_instance_type_offerings(LocationType="availability-zone",
                                             Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}])
zone_names = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
assert {o["Location"] for o in zones["InstanceTypeOfferings"]} == zone_names, zones
by_id = ec2.describe_instance_type_offerings(LocationType="availability-zone-id",
                                             Filters=[{"Name": "location", "Values": ["use1-az1"]}])
assert {o["Location"] for o in by_id["InstanceTypeOfferings"]} == {"use1-az1"}, by_id
page = ec2.describe_instance_type_offerings(MaxResults=5)
assert len(page["InstanceTypeOfferings"]) == 5 and page["NextToken"], page
fails("InvalidParameterValue", ec2.describe_instance_type_offerings, Filters=[{"Name": "colour", "Values": ["x"]}])

# Launch options: monitoring, metadata options, CPU credits.
t3 = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                       Monitoring={"Enabled": True},
                       MetadataOptions={"HttpTokens": "required", "HttpPutResponseHopLimit": 2})["Instances"][0]
assert t3["Monitoring"]["State"] == "enabled", t3["Monitoring"]
meta = t3["MetadataOptions"]
assert (meta["HttpTokens"], meta["HttpPutResponseHopLimit"], meta["HttpEndpoint"]) == ("required", 2, "enabled"), meta
t2 = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t2.micro")["Instances"][0]
m5 = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"][0]
assert m5["Monitoring"]["State"] == "disabled" and m5["MetadataOptions"]["HttpTokens"] == "optional", m5
fails("InvalidParameterCombination", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1,
      InstanceType="m5.large", CreditSpecification={"CpuCredits": "unlimited"})
fails("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
      MetadataOptions={"HttpPutResponseHopLimit": 100})

# Monitoring on and off.
on = ec2.monitor_instances(InstanceIds=[m5["InstanceId"]])["InstanceMonitorings"]
assert on == [{"InstanceId": m5["InstanceId"], "Monitoring": {"State": "pending"}}], on
described = ec2.describe_instances(InstanceIds=[m5["InstanceId"]])["Reservations"][0]["Instances"][0]
assert described["Monitoring"]["State"] == "enabled", described["Monitoring"]
off = ec2.unmonitor_instances(InstanceIds=[m5["InstanceId"]])["InstanceMonitorings"]
assert off[0]["Monitoring"]["State"] == "disabling", off
fails("InvalidInstanceID.NotFound", ec2.monitor_instances, InstanceIds=["i-0123456789abcdef0"])
fails("DryRunOperation", ec2.monitor_instances, InstanceIds=[m5["InstanceId"]], DryRun=True)

# Metadata options change.
changed = ec2.modify_instance_metadata_options(InstanceId=m5["InstanceId"], HttpTokens="required",
                                               InstanceMetadataTags="enabled")
assert changed["InstanceMetadataOptions"]["State"] == "pending", changed
assert changed["InstanceMetadataOptions"]["HttpTokens"] == "required", changed
meta = ec2.describe_instances(InstanceIds=[m5["InstanceId"]])["Reservations"][0]["Instances"][0]["MetadataOptions"]
assert (meta["State"], meta["HttpTokens"], meta["InstanceMetadataTags"]) == ("applied", "required", "enabled"), meta
fails("InvalidParameterValue", ec2.modify_instance_metadata_options, InstanceId=m5["InstanceId"],
      HttpPutResponseHopLimit=0)

# CPU credits: burstable types only, t2 standard and t3 unlimited by default.
specs = ec2.describe_instance_credit_specifications(
    InstanceIds=[t3["InstanceId"], t2["InstanceId"]])["InstanceCreditSpecifications"]
assert {s["InstanceId"]: s["CpuCredits"] for s in specs} == {t3["InstanceId"]: "unlimited",
                                                             t2["InstanceId"]: "standard"}, specs
result = ec2.modify_instance_credit_specification(InstanceCreditSpecifications=[
    {"InstanceId": t3["InstanceId"], "CpuCredits": "standard"},
    {"InstanceId": m5["InstanceId"], "CpuCredits": "standard"},
    {"InstanceId": "i-0123456789abcdef0", "CpuCredits": "standard"},
])
assert [s["InstanceId"] for s in result["SuccessfulInstanceCreditSpecifications"]] == [t3["InstanceId"]], result
codes = {u["InstanceId"]: u["Error"]["Code"] for u in result["UnsuccessfulInstanceCreditSpecifications"]}
assert codes == {m5["InstanceId"]: "InstanceCreditSpecification.NotSupported",
                 "i-0123456789abcdef0": "InvalidInstanceID.NotFound"}, codes
specs = ec2.describe_instance_credit_specifications(InstanceIds=[t3["InstanceId"]])["InstanceCreditSpecifications"]
assert specs[0]["CpuCredits"] == "standard", specs

# The filters suites use.
arm = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t4g.micro",
                        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "edge"}]}],
                        )["Instances"][0]
assert arm["Architecture"] == "arm64" and t3["Architecture"] == "x86_64", (arm["Architecture"], t3["Architecture"])


def ids(*filters):
    found = ec2.describe_instances(Filters=[{"Name": n, "Values": v} for n, v in filters])["Reservations"]
    return {i["InstanceId"] for r in found for i in r["Instances"]}


assert ids(("architecture", ["arm64"])) == {arm["InstanceId"]}
assert ids(("tag-value", ["edge"])) == {arm["InstanceId"]}
assert ids(("metadata-options.http-tokens", ["required"])) == {t3["InstanceId"], m5["InstanceId"]}
assert ids(("monitoring-state", ["enabled"])) == {t3["InstanceId"]}
assert arm["InstanceId"] in ids(("owner-id", ["000000000000"]), ("instance.group-name", ["default"]),
                                ("source-dest-check", ["true"]), ("root-device-type", ["ebs"]))
assert ids(("dns-name", [arm["PublicDnsName"]])) == {arm["InstanceId"]}, arm["PublicDnsName"]
assert ids(("ip-address", [arm["PublicIpAddress"]])) == {arm["InstanceId"]}
assert ids(("private-dns-name", [arm["PrivateDnsName"]])) == {arm["InstanceId"]}
assert ids(("network-interface.addresses.private-ip-address", [arm["PrivateIpAddress"]])) == {arm["InstanceId"]}
assert ids(("instance-lifecycle", ["spot"])) == set()
vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1,
                        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "db"}]}])
found = ec2.describe_volumes(Filters=[{"Name": "tag-value", "Values": ["db"]}])["Volumes"]
assert [v["VolumeId"] for v in found] == [vol["VolumeId"]], found

# Hibernation and placement, as launched.
sleepy = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large",
                           HibernationOptions={"Configured": True},
                           Placement={"AvailabilityZone": "us-east-1b", "Tenancy": "dedicated"})["Instances"][0]
assert sleepy["HibernationOptions"] == {"Configured": True}, sleepy["HibernationOptions"]
assert sleepy["Placement"]["Tenancy"] == "dedicated", sleepy["Placement"]
assert m5["HibernationOptions"] == {"Configured": False}
assert ids(("hibernation-options.configured", ["true"])) == {sleepy["InstanceId"]}
assert ids(("tenancy", ["dedicated"])) == {sleepy["InstanceId"]}
fails("UnsupportedOperation", ec2.stop_instances, InstanceIds=[m5["InstanceId"]], Hibernate=True)
hibernating = ec2.stop_instances(InstanceIds=[sleepy["InstanceId"]], Hibernate=True)["StoppingInstances"]
assert hibernating[0]["CurrentState"]["Name"] == "stopping", hibernating
print("boto3 instance options: ok")
