"""Public IPv4 addresses through boto3 against the squall at argv[1]: an instance in a default
subnet gets a public IP and DNS name, gives it back when it stops and gets a new one when it
starts; a subnet maps public IPs when ModifySubnetAttribute says so; Elastic IPs are allocated,
associated (only in a VPC with an internet gateway), shown on the instance, moved and released,
with EC2's error codes.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys
import time

from common import client, fails

ec2 = client("ec2", sys.argv[1])
ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def instance(i):
    return ec2.describe_instances(InstanceIds=[i])["Reservations"][0]["Instances"][0]


def wait(i, state):
    for _ in range(100):
        if instance(i)["State"]["Name"] == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"{i} never {state}")


# A default subnet maps public IPs: the instance has one, and a public DNS name (the default
# VPC gives DNS hostnames).
launched = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                             Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0]
web = launched["InstanceId"]
ip = launched["PublicIpAddress"]
assert launched["PublicDnsName"] == f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com", launched
assert launched["PrivateDnsName"].endswith(".ec2.internal"), launched
wait(web, "running")
assert instance(web)["PublicIpAddress"] == ip

# Stopping gives the address back; starting gets a new one.
ec2.stop_instances(InstanceIds=[web])
wait(web, "stopped")
assert "PublicIpAddress" not in instance(web) and instance(web)["PublicDnsName"] == "", instance(web)
ec2.start_instances(InstanceIds=[web])
wait(web, "running")
assert instance(web)["PublicIpAddress"], instance(web)

# A subnet of a new VPC does not map public IPs, until told to; no DNS hostnames there.
vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.30.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
private = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                            SubnetId=subnet)["Instances"][0]
assert "PublicIpAddress" not in private and private["PublicDnsName"] == "", private
ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
(s,) = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
assert s["MapPublicIpOnLaunch"] is True, s
mapped = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                           SubnetId=subnet)["Instances"][0]
assert mapped["PublicIpAddress"] and mapped["PublicDnsName"] == "", mapped

# An address asked for by number: in the subnet, not reserved, not taken.
pinned = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=subnet,
                           PrivateIpAddress="10.30.1.50")["Instances"][0]
assert pinned["PrivateIpAddress"] == "10.30.1.50", pinned
fails("InvalidIPAddress.InUse", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
      PrivateIpAddress="10.30.1.50")
fails("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
      PrivateIpAddress="10.30.2.50")
fails("InvalidParameterValue", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet,
      PrivateIpAddress="10.30.1.2")
fails("InvalidParameterCombination", ec2.run_instances, ImageId=ami, MinCount=1, MaxCount=2, SubnetId=subnet,
      PrivateIpAddress="10.30.1.60")

# Elastic IPs.
eip = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip",
                                                             "Tags": [{"Key": "Name", "Value": "front"}]}])
assert eip["Domain"] == "vpc" and eip["AllocationId"].startswith("eipalloc-") and eip["PublicIp"], eip
fails("InvalidParameterValue", ec2.allocate_address, Domain="standard")
# Not in a VPC without an internet gateway.
fails("Gateway.NotAttached", ec2.associate_address, AllocationId=eip["AllocationId"],
      InstanceId=private["InstanceId"])
assoc = ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=web)["AssociationId"]
assert instance(web)["PublicIpAddress"] == eip["PublicIp"], instance(web)
(shown,) = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"]
assert (shown["InstanceId"], shown["AssociationId"], shown["PrivateIpAddress"]) == (
    web, assoc, instance(web)["PrivateIpAddress"]), shown
assert shown["Tags"] == [{"Key": "Name", "Value": "front"}], shown
assert ec2.describe_addresses(Filters=[{"Name": "instance-id", "Values": [web]}])["Addresses"][0]["PublicIp"] \
    == eip["PublicIp"]
assert ec2.describe_addresses(PublicIps=[eip["PublicIp"]])["Addresses"][0]["AllocationId"] == eip["AllocationId"]
fails("InvalidAddress.NotFound", ec2.describe_addresses, PublicIps=["198.51.100.7"])
fails("InvalidAllocationID.NotFound", ec2.describe_addresses, AllocationIds=["eipalloc-0123456789abcdef0"])
fails("InvalidIPAddress.InUse", ec2.release_address, AllocationId=eip["AllocationId"])

# Moving it needs AllowReassociation.
other = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          Placement={"AvailabilityZone": "us-east-1a"})["Instances"][0]["InstanceId"]
fails("Resource.AlreadyAssociated", ec2.associate_address, AllocationId=eip["AllocationId"], InstanceId=other)
ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=other, AllowReassociation=True)
assert instance(other)["PublicIpAddress"] == eip["PublicIp"]
assert instance(web)["PublicIpAddress"] != eip["PublicIp"], "web shows its own address again"

# Terminating lets go of it; then it can be released.
ec2.terminate_instances(InstanceIds=[other])
(after,) = ec2.describe_addresses(AllocationIds=[eip["AllocationId"]])["Addresses"]
assert "InstanceId" not in after and "AssociationId" not in after, after
fails("InvalidAssociationID.NotFound", ec2.disassociate_address, AssociationId=assoc)
ec2.release_address(AllocationId=eip["AllocationId"])
fails("InvalidAllocationID.NotFound", ec2.release_address, AllocationId=eip["AllocationId"])
many = [ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(5)]
fails("AddressLimitExceeded", ec2.allocate_address, Domain="vpc")
for a in many:
    ec2.release_address(AllocationId=a)

# A detach that names another instance or device: EC2's InvalidAttachment.NotFound.
vol = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
fails("IncorrectState", ec2.detach_volume, VolumeId=vol)
ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
ec2.attach_volume(VolumeId=vol, InstanceId=web, Device="/dev/sdf")
fails("InvalidAttachment.NotFound", ec2.detach_volume, VolumeId=vol, InstanceId=private["InstanceId"])
fails("InvalidAttachment.NotFound", ec2.detach_volume, VolumeId=vol, InstanceId=web, Device="/dev/sdz")
ec2.detach_volume(VolumeId=vol, InstanceId=web, Device="/dev/sdf")
print("boto3 public addresses: ok")
