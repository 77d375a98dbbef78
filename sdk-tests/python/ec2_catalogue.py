"""What EC2 serves the same in every account, read with boto3 from the squall at argv[1]: the
AWS-managed prefix lists (S3, DynamoDB, CloudFront) with their entries, as security-group rules
and Terraform's aws_prefix_list read them; and GetInstanceUefiData, whose variable store is in
AWS's format (python-uefivars `aws`: magic, CRC-32C, version, zlib) for an instance booting UEFI.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import base64
import struct
import sys
import zlib

from common import client, fails

ec2 = client("ec2", sys.argv[1])

managed = {p["PrefixListName"]: p for p in ec2.describe_managed_prefix_lists()["PrefixLists"]}
s3 = managed["com.amazonaws.us-east-1.s3"]
assert s3["PrefixListId"] == "pl-63a5400a" and s3["OwnerId"] == "AWS" and s3["AddressFamily"] == "IPv4", s3
assert s3["State"] == "create-complete" and s3["PrefixListArn"] == "arn:aws:ec2:us-east-1:aws:prefix-list/pl-63a5400a"
assert "com.amazonaws.us-east-1.dynamodb" in managed and "com.amazonaws.global.cloudfront.origin-facing" in managed
by_name = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name",
                                                      "Values": ["com.amazonaws.us-east-1.dynamodb"]}])["PrefixLists"]
assert [p["PrefixListId"] for p in by_name] == ["pl-02cd2c6b"], by_name
entries = ec2.get_managed_prefix_list_entries(PrefixListId="pl-63a5400a")["Entries"]
assert entries and all("/" in e["Cidr"] for e in entries), entries
page = ec2.get_managed_prefix_list_entries(PrefixListId="pl-63a5400a", MaxResults=2)
assert len(page["Entries"]) == 2 and page["NextToken"], page
gateway = {p["PrefixListName"]: p["Cidrs"] for p in ec2.describe_prefix_lists()["PrefixLists"]}
assert set(gateway) == {"com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.dynamodb"}, gateway
assert gateway["com.amazonaws.us-east-1.s3"] == [e["Cidr"] for e in entries], gateway
fails("InvalidPrefixListID.NotFound", ec2.get_managed_prefix_list_entries, PrefixListId="pl-00000000")
fails("InvalidPrefixListID.NotFound", ec2.describe_managed_prefix_lists, PrefixListIds=["pl-00000000"])

# A security group rule that names the S3 list.
group = ec2.create_security_group(GroupName="to-s3", Description="egress to S3")["GroupId"]
to_s3 = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-63a5400a"}]}
ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[to_s3])
egress = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]
assert [p["PrefixListIds"] for p in egress if p["IpProtocol"] == "tcp"] == [[{"PrefixListId": "pl-63a5400a"}]], egress
rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
assert [r.get("PrefixListId") for r in rules if r["IpProtocol"] == "tcp"] == ["pl-63a5400a"], rules
fails("InvalidPermission.Duplicate", ec2.authorize_security_group_egress, GroupId=group, IpPermissions=[to_s3])
fails("InvalidPrefixListId.NotFound", ec2.authorize_security_group_egress, GroupId=group, IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "PrefixListIds": [{"PrefixListId": "pl-00000000"}]}])
ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[to_s3])
v6 = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "2600:1f18::/32"}]}
ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[v6])
ingress = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
assert [p["Ipv6Ranges"] for p in ingress] == [[{"CidrIpv6": "2600:1f18::/32"}]], ingress

# Another region has its own ids of the same form.
west = client("ec2", sys.argv[1], region="us-west-2")
(w,) = [p for p in west.describe_managed_prefix_lists()["PrefixLists"] if p["PrefixListName"].endswith(".s3")]
assert w["PrefixListName"] == "com.amazonaws.us-west-2.s3" and w["PrefixListId"].startswith("pl-"), w
assert w["PrefixListId"] != "pl-63a5400a" and len(w["PrefixListId"]) == 11, w


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
nitro = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m5.large")["Instances"][0]
assert nitro["CurrentInstanceBootMode"] == "uefi", nitro
uefi = ec2.get_instance_uefi_data(InstanceId=nitro["InstanceId"])
assert uefi["InstanceId"] == nitro["InstanceId"], uefi
raw = base64.b64decode(uefi["UefiData"])
magic, crc, version = struct.unpack("<QII", raw[:16])
assert magic == 0x494645554E5A4D41 and raw[:8] == b"AMZNUEFI", raw[:8]
assert crc == crc32c(raw[12:]) and version == 0, (crc, version)
(count,) = struct.unpack("<Q", zlib.decompress(raw[16:]))
assert count == 0, count

xen = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t2.micro")["Instances"][0]
assert xen["CurrentInstanceBootMode"] == "legacy-bios", xen
assert "UefiData" not in ec2.get_instance_uefi_data(InstanceId=xen["InstanceId"])
fails("InvalidInstanceID.NotFound", ec2.get_instance_uefi_data, InstanceId="i-0123456789abcdef0")

print("boto3 ec2 catalogue: ok")
