"""Elastic network interfaces and IPv6, as a moto-style suite uses them against the squall at
argv[1] started with --lifecycle-delay-ms 0 (create and use at once, no waiters): interfaces
made, attached, detached, described with filters and deleted; RunInstances with
NetworkInterfaces (a new primary interface with a public address, an existing one, a second
device); IPv6 blocks on a VPC and a subnet that assigns addresses; EC2's error codes, DryRun
answered before state checks, an empty TerminateInstances.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

from common import client, fails

ec2 = client("ec2", sys.argv[1])
image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

# A VPC with an Amazon-provided IPv6 block, a subnet with a /64 of it that assigns addresses.
vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
vpc_id = vpc["VpcId"]
(v6,) = vpc["Ipv6CidrBlockAssociationSet"]
assert v6["Ipv6CidrBlock"].endswith("00::/56") and v6["Ipv6Pool"] == "Amazon", v6
subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
block = v6["Ipv6CidrBlock"].replace("00::/56", "01::/64")
fails("InvalidParameterValue", ec2.modify_subnet_attribute, SubnetId=subnet,
      AssignIpv6AddressOnCreation={"Value": True})
assoc = ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=block)["Ipv6CidrBlockAssociation"]
assert assoc["Ipv6CidrBlock"] == block, assoc
fails("InvalidSubnet.Range", ec2.associate_subnet_cidr_block, SubnetId=other, Ipv6CidrBlock="2600:1f18:ffff:ff00::/64")
ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})
described = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]
assert described["AssignIpv6AddressOnCreation"] is True, described
assert [a["Ipv6CidrBlock"] for a in described["Ipv6CidrBlockAssociationSet"]] == [block], described
fails("DependencyViolation", ec2.disassociate_vpc_cidr_block, AssociationId=v6["AssociationId"])

# An interface of its own: an address of the subnet, the VPC's default group, an IPv6 address.
default_group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                      {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc_id)["GroupId"]
eni = ec2.create_network_interface(SubnetId=subnet, Description="spare", PrivateIpAddress="10.30.1.50",
                                   TagSpecifications=[{"ResourceType": "network-interface",
                                                       "Tags": [{"Key": "role", "Value": "spare"}]}])["NetworkInterface"]
eni_id = eni["NetworkInterfaceId"]
assert eni["PrivateIpAddress"] == "10.30.1.50" and eni["Status"] == "available", eni
assert [g["GroupId"] for g in eni["Groups"]] == [default_group], eni
assert eni["AvailabilityZone"] == "us-east-1a" and eni["InterfaceType"] == "interface", eni
assert len(eni["Ipv6Addresses"]) == 1 and eni["Ipv6Addresses"][0]["Ipv6Address"].startswith(block[:-5]), eni
assert eni["MacAddress"].count(":") == 5 and eni["TagSet"] == [{"Key": "role", "Value": "spare"}], eni
fails("InvalidIPAddress.InUse", ec2.create_network_interface, SubnetId=subnet, PrivateIpAddress="10.30.1.50")
fails("InvalidNetworkInterfaceID.NotFound", ec2.describe_network_interfaces, NetworkInterfaceIds=["eni-0123456789abcdef0"])
fails("InvalidNetworkInterfaceID.Malformed", ec2.delete_network_interface, NetworkInterfaceId="eni-nope")

# RunInstances with NetworkInterfaces: device 0 new (public address asked for), device 1 the spare.
fails("InvalidParameterCombination", ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
      NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet}])
fails("InvalidParameterCombination", ec2.run_instances, ImageId=image, MinCount=1, MaxCount=1,
      SecurityGroupIds=[web], NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet}])
run = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", NetworkInterfaces=[
    {"DeviceIndex": 0, "SubnetId": subnet, "Groups": [web], "AssociatePublicIpAddress": True,
     "PrivateIpAddress": "10.30.1.60", "Description": "primary"}])["Instances"][0]
instance = run["InstanceId"]
assert run["SubnetId"] == subnet and run["PrivateIpAddress"] == "10.30.1.60", run
assert run["PublicIpAddress"], "AssociatePublicIpAddress gives a public address in a subnet that maps none"
assert run["Ipv6Address"].startswith(block[:-5]), run
(primary,) = run["NetworkInterfaces"]
assert primary["Attachment"]["DeviceIndex"] == 0 and primary["Attachment"]["DeleteOnTermination"] is True, primary
assert primary["Description"] == "primary" and [g["GroupId"] for g in primary["Groups"]] == [web], primary
assert primary["Association"]["PublicIp"] == run["PublicIpAddress"], primary
assert [g["GroupId"] for g in run["SecurityGroups"]] == [web], run

# Attach the spare at device 1 (instant mode: the instance runs already), then detach it.
fails("DryRunOperation", ec2.attach_network_interface, NetworkInterfaceId=eni_id, InstanceId=instance,
      DeviceIndex=0, DryRun=True)
fails("InvalidParameterValue", ec2.attach_network_interface, NetworkInterfaceId=eni_id, InstanceId=instance,
      DeviceIndex=0)
attachment = ec2.attach_network_interface(NetworkInterfaceId=eni_id, InstanceId=instance, DeviceIndex=1)["AttachmentId"]
assert attachment.startswith("eni-attach-"), attachment
fails("InvalidNetworkInterface.InUse", ec2.delete_network_interface, NetworkInterfaceId=eni_id)
described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
assert [(n["NetworkInterfaceId"], n["Attachment"]["DeviceIndex"]) for n in described["NetworkInterfaces"]] == \
    [(primary["NetworkInterfaceId"], 0), (eni_id, 1)], described["NetworkInterfaces"]
mine = ec2.describe_network_interfaces(Filters=[{"Name": "attachment.instance-id", "Values": [instance]}])
assert sorted(n["NetworkInterfaceId"] for n in mine["NetworkInterfaces"]) == sorted([primary["NetworkInterfaceId"], eni_id])
by_eni = ec2.describe_instances(Filters=[{"Name": "network-interface.network-interface-id", "Values": [eni_id]}])
assert [i["InstanceId"] for r in by_eni["Reservations"] for i in r["Instances"]] == [instance], by_eni
tagged = ec2.describe_network_interfaces(Filters=[{"Name": "tag:role", "Values": ["spare"]},
                                                  {"Name": "status", "Values": ["in-use"]}])["NetworkInterfaces"]
assert [n["NetworkInterfaceId"] for n in tagged] == [eni_id], tagged
fails("OperationNotPermitted", ec2.detach_network_interface,
      AttachmentId=primary["Attachment"]["AttachmentId"])
fails("InvalidAttachmentID.NotFound", ec2.detach_network_interface, AttachmentId="eni-attach-0123456789abcdef0")

# Attributes: one per call; groups of the primary interface are the instance's.
ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Description={"Value": "second"})
ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Attachment={"AttachmentId": attachment,
                                                                              "DeleteOnTermination": True})
fails("InvalidParameterCombination", ec2.modify_network_interface_attribute, NetworkInterfaceId=eni_id,
      Description={"Value": "x"}, SourceDestCheck={"Value": True})
attr = ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="description")
assert attr["Description"] == {"Value": "second"}, attr
attr = ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="attachment")
assert attr["Attachment"]["DeleteOnTermination"] is True and attr["Attachment"]["InstanceId"] == instance, attr
ec2.modify_instance_attribute(InstanceId=instance, Groups=[default_group])
primary_now = ec2.describe_network_interfaces(NetworkInterfaceIds=[primary["NetworkInterfaceId"]])["NetworkInterfaces"][0]
assert [g["GroupId"] for g in primary_now["Groups"]] == [default_group], primary_now
ec2.detach_network_interface(AttachmentId=attachment)
assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"][0]["Status"] == "available"

# A second instance on the spare interface as its primary: the interface's subnet and address.
second = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, NetworkInterfaces=[
    {"DeviceIndex": 0, "NetworkInterfaceId": eni_id}])["Instances"][0]
assert second["PrivateIpAddress"] == "10.30.1.50" and second["SubnetId"] == subnet, second
assert second["NetworkInterfaces"][0]["NetworkInterfaceId"] == eni_id, second

# DryRun is answered once ids resolve, before state checks; an empty TerminateInstances is refused.
ec2.stop_instances(InstanceIds=[instance])
fails("DryRunOperation", ec2.stop_instances, InstanceIds=[instance], DryRun=True)
fails("InvalidInstanceID.NotFound", ec2.stop_instances, InstanceIds=["i-0123456789abcdef0"], DryRun=True)
volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
fails("DryRunOperation", ec2.detach_volume, VolumeId=volume, DryRun=True)
fails("IncorrectState", ec2.detach_volume, VolumeId=volume)
assert fails("InvalidParameterCombination", ec2.terminate_instances, InstanceIds=[]) == "No instances specified"

# Terminating: the interface made at launch goes with it; one attached, marked so, too; the
# spare used as a primary outlives the instance (it was not made by the launch).
ec2.terminate_instances(InstanceIds=[instance, second["InstanceId"]])
left = {n["NetworkInterfaceId"]: n["Status"] for n in
        ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NetworkInterfaces"]}
assert left == {eni_id: "available"}, left
fails("DependencyViolation", ec2.delete_subnet, SubnetId=subnet)
ec2.delete_network_interface(NetworkInterfaceId=eni_id)
fails("InvalidNetworkInterfaceID.NotFound", ec2.delete_network_interface, NetworkInterfaceId=eni_id)
ec2.disassociate_subnet_cidr_block(AssociationId=assoc["AssociationId"])
ec2.disassociate_vpc_cidr_block(AssociationId=v6["AssociationId"])
assert "Ipv6CidrBlockAssociationSet" not in ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]

print("boto3 network interfaces: ok")
