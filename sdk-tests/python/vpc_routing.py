"""What Terraform's AWS provider does around aws_vpc, aws_subnet, aws_internet_gateway,
aws_route_table(_association) and aws_route, replayed with boto3 against the squall at argv[1]:
VPC attributes, account attributes, the main route table and default network ACL of each VPC,
internet gateways, routes and associations, with EC2's error codes.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

from common import client, fails

ec2 = client("ec2", sys.argv[1])

# The account and its default VPC, as the provider reads them first.
attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
         for a in ec2.describe_account_attributes()["AccountAttributes"]}
default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
assert attrs["supported-platforms"] == ["VPC"] and attrs["default-vpc"] == [default_vpc], attrs
only = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
assert [a["AttributeName"] for a in only] == ["default-vpc"], only

# The default VPC routes to the internet through its gateway.
(igw_default,) = ec2.describe_internet_gateways(
    Filters=[{"Name": "attachment.vpc-id", "Values": [default_vpc]}])["InternetGateways"]
assert igw_default["Attachments"] == [{"State": "available", "VpcId": default_vpc}], igw_default
(main_default,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [default_vpc]},
                                                     {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
routes = {r["DestinationCidrBlock"]: (r["GatewayId"], r["State"]) for r in main_default["Routes"]}
assert routes == {"172.31.0.0/16": ("local", "active"),
                  "0.0.0.0/0": (igw_default["InternetGatewayId"], "active")}, routes
dns = ec2.describe_vpc_attribute(VpcId=default_vpc, Attribute="enableDnsHostnames")
assert dns["EnableDnsHostnames"] == {"Value": True} and dns["VpcId"] == default_vpc, dns

# aws_vpc: create, then the attributes, the main route table, the default ACL and security group.
vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsSupport")["EnableDnsSupport"] == {"Value": True}
assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {"Value": False}
ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {"Value": True}
fails("InvalidParameterValue", ec2.modify_vpc_attribute, VpcId=vpc, EnableDnsSupport={"Value": False})
metrics = ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableNetworkAddressUsageMetrics")
assert metrics["EnableNetworkAddressUsageMetrics"] == {"Value": False}, metrics
fails("InvalidVpcID.NotFound", ec2.describe_vpc_attribute, VpcId="vpc-0123456789abcdef0",
      Attribute="enableDnsSupport")
(main,) = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                             {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
assert [(r["DestinationCidrBlock"], r["GatewayId"], r["Origin"]) for r in main["Routes"]] == [
    ("10.20.0.0/16", "local", "CreateRouteTable")], main
assert main["Associations"][0]["Main"] is True, main
(acl,) = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                           {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
assert acl["IsDefault"] and {(e["RuleNumber"], e["RuleAction"], e["Egress"]) for e in acl["Entries"]} == {
    (100, "allow", True), (32767, "deny", True), (100, "allow", False), (32767, "deny", False)}, acl

# aws_subnet: the default ACL covers it.
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
(acl,) = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"]
assert acl["VpcId"] == vpc, acl

# aws_internet_gateway: create with tags, attach; one gateway per VPC.
igw = ec2.create_internet_gateway(TagSpecifications=[{"ResourceType": "internet-gateway",
                                                      "Tags": [{"Key": "Name", "Value": "main"}]}])["InternetGateway"]
gw = igw["InternetGatewayId"]
assert igw["Attachments"] == [] and igw["Tags"] == [{"Key": "Name", "Value": "main"}], igw
ec2.attach_internet_gateway(InternetGatewayId=gw, VpcId=vpc)
fails("Resource.AlreadyAssociated", ec2.attach_internet_gateway, InternetGatewayId=gw, VpcId=default_vpc)
other = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
fails("Resource.AlreadyAssociated", ec2.attach_internet_gateway, InternetGatewayId=other, VpcId=vpc)
fails("InvalidInternetGatewayID.NotFound", ec2.attach_internet_gateway, InternetGatewayId="igw-0123456789abcdef0",
      VpcId=vpc)
fails("Gateway.NotAttached", ec2.detach_internet_gateway, InternetGatewayId=other, VpcId=vpc)
fails("DependencyViolation", ec2.delete_internet_gateway, InternetGatewayId=gw)
tagged = ec2.describe_internet_gateways(Filters=[{"Name": "tag:Name", "Values": ["main"]}])["InternetGateways"]
assert [g["InternetGatewayId"] for g in tagged] == [gw], tagged

# aws_route_table + aws_route + aws_route_table_association.
table = ec2.create_route_table(VpcId=vpc)["RouteTable"]
rtb = table["RouteTableId"]
assert table["Associations"] == [] and len(table["Routes"]) == 1, table
assert ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=gw)["Return"] is True
fails("RouteAlreadyExists", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=gw)
fails("InvalidParameterValue", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0/1", GatewayId=gw)
fails("InvalidParameterValue", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="8.8.8.0/24",
      GatewayId=igw_default["InternetGatewayId"])
fails("InvalidParameterValue", ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="10.20.0.0/16")
fails("InvalidRoute.NotFound", ec2.delete_route, RouteTableId=rtb, DestinationCidrBlock="9.9.9.0/24")
fails("InvalidRoute.NotFound", ec2.replace_route, RouteTableId=rtb, DestinationCidrBlock="9.9.9.0/24", GatewayId=gw)
fails("InvalidRouteTableID.NotFound", ec2.describe_route_tables, RouteTableIds=["rtb-0123456789abcdef0"])
assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
assert assoc["AssociationState"]["State"] == "associated", assoc
fails("Resource.AlreadyAssociated", ec2.associate_route_table, RouteTableId=main["RouteTableId"], SubnetId=subnet)
(found,) = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
assert found["RouteTableId"] == rtb, found
fails("DependencyViolation", ec2.delete_route_table, RouteTableId=rtb)
fails("DependencyViolation", ec2.delete_route_table, RouteTableId=main["RouteTableId"])

# A gateway that leaves makes its routes blackholes; teardown in Terraform's order.
ec2.detach_internet_gateway(InternetGatewayId=gw, VpcId=vpc)
(after,) = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
states = {r["DestinationCidrBlock"]: r["State"] for r in after["Routes"]}
assert states == {"10.20.0.0/16": "active", "0.0.0.0/0": "blackhole"}, states
ec2.attach_internet_gateway(InternetGatewayId=gw, VpcId=vpc)
fails("DependencyViolation", ec2.delete_vpc, VpcId=vpc)
ec2.disassociate_route_table(AssociationId=assoc["AssociationId"])
fails("InvalidAssociationID.NotFound", ec2.disassociate_route_table, AssociationId=assoc["AssociationId"])
ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
ec2.delete_route_table(RouteTableId=rtb)
ec2.detach_internet_gateway(InternetGatewayId=gw, VpcId=vpc)
ec2.delete_internet_gateway(InternetGatewayId=gw)
ec2.delete_internet_gateway(InternetGatewayId=other)
ec2.delete_subnet(SubnetId=subnet)
ec2.delete_vpc(VpcId=vpc)
assert ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"] == []
tags = ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["internet-gateway"]}])["Tags"]
assert tags == [], tags
print("boto3 vpc routing: ok")
