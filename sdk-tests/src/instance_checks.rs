//! Instances as an application and its infrastructure code see them: a VPC of its own with a
//! subnet per zone, instances spread across them with the SDK's waiters, key pairs with real
//! keys, images whose snapshots boot their bytes, attributes, and AWS's error codes.

use std::time::Duration;

use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, AttributeValue, BlockDeviceMapping, EbsBlockDevice, InstanceAttributeName,
    InstanceStateName, InstanceType, KeyType, Placement, ResourceType, VolumeState,
};

use crate::checks::filter;
use crate::ebs_checks::{block, put_block, sha256_b64, snapshot_completed, tags, until_instance, volume_available};
use crate::{ec2, error_seen};

/// The SDK's instance waiters poll every 15 s; transitions here take 300 ms, so each waiter
/// returns after one or two looks.
const WAITER: Duration = Duration::from_secs(120);

async fn run_one(ec2: &aws_sdk_ec2::Client, subnet: &str) -> aws_sdk_ec2::types::Instance {
    let out = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(subnet)
        .send()
        .await
        .expect("RunInstances");
    out.instances()[0].clone()
}

/// A multi-AZ app's view: its own VPC with a subnet per zone, one instance per subnet, each in
/// its subnet's zone with a root volume there; waiters for running, stopped and terminated;
/// termination deletes roots marked DeleteOnTermination and leaves other volumes available.
pub async fn multi_az_app_in_its_own_vpc(endpoint: String) {
    let ec2 = ec2(&endpoint, "eu-west-2");
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .tag_specifications(tags(&[("Name", "app")], ResourceType::Vpc))
        .send()
        .await
        .expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    ec2.wait_until_vpc_available().vpc_ids(&vpc_id).wait(WAITER).await.expect("vpc_available");
    let zones = ["eu-west-2a", "eu-west-2b", "eu-west-2c"];
    let mut subnets = Vec::new();
    for (n, zone) in zones.iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.20.{n}.0/24"))
            .availability_zone(*zone)
            .send()
            .await
            .expect("CreateSubnet");
        let s = s.subnet().expect("subnet").clone();
        assert_eq!(s.availability_zone(), Some(*zone));
        assert_eq!(s.available_ip_address_count(), Some(251), "a /24 less AWS's five reserved addresses");
        assert_eq!(s.default_for_az(), Some(false));
        subnets.push(s.subnet_id().expect("id").to_string());
    }
    let listed = ec2.describe_subnets().filters(filter("vpc-id", &[&vpc_id])).send().await.expect("DescribeSubnets");
    assert_eq!(listed.subnets().len(), 3);

    let mut instances = Vec::new();
    for (subnet, zone) in subnets.iter().zip(zones) {
        let i = run_one(&ec2, subnet).await;
        assert_eq!(i.placement().and_then(|p| p.availability_zone()), Some(zone));
        assert_eq!(i.subnet_id(), Some(subnet.as_str()));
        assert_eq!(i.vpc_id(), Some(vpc_id.as_str()));
        let n = subnets.iter().position(|s| s == subnet).unwrap_or_default();
        assert_eq!(i.private_ip_address(), Some(format!("10.20.{n}.4").as_str()), "the subnet's first free address");
        assert_eq!(i.security_groups().len(), 1);
        assert_eq!(i.security_groups()[0].group_name(), Some("default"), "the VPC's default group");
        instances.push(i.instance_id().expect("id").to_string());
    }
    ec2.wait_until_instance_running().set_instance_ids(Some(instances.clone())).wait(WAITER).await.expect("running");
    let by_vpc = ec2.describe_instances().filters(filter("vpc-id", &[&vpc_id])).send().await.expect("by vpc");
    assert_eq!(by_vpc.reservations().iter().map(|r| r.instances().len()).sum::<usize>(), 3);
    let by_subnet = ec2.describe_instances().filters(filter("subnet-id", &[&subnets[1]])).send().await.expect("subnet");
    assert_eq!(by_subnet.reservations()[0].instances()[0].instance_id(), Some(instances[1].as_str()));

    // Each root volume lives in its instance's zone, attached to it.
    let mut roots = Vec::new();
    for (id, zone) in instances.iter().zip(zones) {
        let volumes = ec2
            .describe_volumes()
            .filters(filter("attachment.instance-id", &[id]))
            .send()
            .await
            .expect("DescribeVolumes");
        let root = &volumes.volumes()[0];
        assert_eq!(root.availability_zone(), Some(zone));
        assert_eq!(root.state(), Some(&VolumeState::InUse));
        assert_eq!(root.attachments()[0].delete_on_termination(), Some(true));
        roots.push(root.volume_id().expect("id").to_string());
    }
    // A data volume that outlives the instance.
    let data = ec2.create_volume().availability_zone(zones[0]).size(1).send().await.expect("CreateVolume");
    let data = data.volume_id().expect("id").to_string();
    volume_available(&ec2, &data).await;
    ec2.attach_volume().volume_id(&data).instance_id(&instances[0]).device("/dev/sdf").send().await.expect("attach");
    ec2.wait_until_volume_in_use().volume_ids(&data).wait(WAITER).await.expect("volume_in_use");

    ec2.stop_instances().instance_ids(&instances[2]).send().await.expect("StopInstances");
    ec2.wait_until_instance_stopped().instance_ids(&instances[2]).wait(WAITER).await.expect("instance_stopped");

    let terminated =
        ec2.terminate_instances().set_instance_ids(Some(instances.clone())).send().await.expect("TerminateInstances");
    assert_eq!(terminated.terminating_instances().len(), 3);
    ec2.wait_until_instance_terminated()
        .set_instance_ids(Some(instances.clone()))
        .wait(WAITER)
        .await
        .expect("instance_terminated");
    ec2.wait_until_volume_deleted().set_volume_ids(Some(roots)).wait(WAITER).await.expect("roots deleted");
    let kept = ec2.describe_volumes().volume_ids(&data).send().await.expect("data volume");
    assert_eq!(kept.volumes()[0].state(), Some(&VolumeState::Available));
    assert!(kept.volumes()[0].attachments().is_empty());

    // Terminated instances no longer hold their subnets; the VPC goes once the subnets do.
    let seen = error_seen(ec2.delete_vpc().vpc_id(&vpc_id).send().await.expect_err("has subnets"));
    assert_eq!(seen.code, "DependencyViolation");
    for s in &subnets {
        ec2.delete_subnet().subnet_id(s).send().await.expect("DeleteSubnet");
    }
    ec2.delete_vpc().vpc_id(&vpc_id).send().await.expect("DeleteVpc");
    let seen = error_seen(ec2.describe_vpcs().vpc_ids(&vpc_id).send().await.expect_err("gone"));
    assert_eq!(seen.code, "InvalidVpcID.NotFound");
}

/// Wrong input, answered with the codes AWS uses.
pub async fn instance_and_network_errors(endpoint: String) {
    let ec2 = ec2(&endpoint, "ca-central-1");
    let code = |e: aws_sdk_ec2::error::SdkError<_, _>| {
        error_seen::<aws_sdk_ec2::operation::run_instances::RunInstancesError, _>(e).code
    };
    let run = || ec2.run_instances().image_id("ami-0123456789abcdef0").min_count(1).max_count(1);
    assert_eq!(
        code(run().subnet_id("subnet-0123456789abcdef0").send().await.expect_err("subnet")),
        "InvalidSubnetID.NotFound"
    );
    let vpc = ec2.create_vpc().cidr_block("10.1.0.0/16").send().await.expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("id").to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.1.8.0/22")
        .availability_zone_id("cac1-az2")
        .send()
        .await
        .expect("CreateSubnet");
    let subnet = subnet.subnet().expect("subnet").clone();
    assert_eq!(subnet.availability_zone(), Some("ca-central-1b"));
    let subnet = subnet.subnet_id().expect("id").to_string();
    let mismatch = run()
        .subnet_id(&subnet)
        .placement(Placement::builder().availability_zone("ca-central-1a").build())
        .send()
        .await
        .expect_err("zone");
    assert_eq!(code(mismatch), "InvalidParameterValue");
    assert_eq!(
        code(run().subnet_id(&subnet).key_name("nobody").send().await.expect_err("key")),
        "InvalidKeyPair.NotFound"
    );
    assert_eq!(
        code(run().subnet_id(&subnet).security_group_ids("sg-0123456789abcdef0").send().await.expect_err("group")),
        "InvalidGroup.NotFound"
    );
    // A group of the default VPC cannot guard an instance in another VPC.
    let default_group = ec2
        .describe_security_groups()
        .filters(filter("group-name", &["default"]))
        .filters(filter("vpc-id", &[&vpc_id]))
        .send()
        .await
        .expect("groups");
    assert_eq!(default_group.security_groups().len(), 1, "CreateVpc made its default group");
    let other = ec2.create_security_group().group_name("web").description("web").send().await.expect("group");
    let other = other.group_id().expect("id").to_string();
    assert_eq!(
        code(run().subnet_id(&subnet).security_group_ids(&other).send().await.expect_err("vpc")),
        "InvalidParameter"
    );
    assert_eq!(code(run().image_id("ami-zzz").send().await.expect_err("malformed")), "InvalidAMIID.Malformed");

    let i = run_one(&ec2, &subnet).await;
    let id = i.instance_id().expect("id").to_string();
    ec2.terminate_instances().instance_ids(&id).send().await.expect("terminate");
    until_instance(&ec2, &id, InstanceStateName::Terminated).await;
    let seen = error_seen(ec2.stop_instances().instance_ids(&id).send().await.expect_err("terminated"));
    assert_eq!(seen.code, "IncorrectInstanceState");
    for bad in ["i-123", "instance", "i-0123456789abcdefg"] {
        let seen = error_seen(ec2.describe_instances().instance_ids(bad).send().await.expect_err("malformed"));
        assert_eq!(seen.code, "InvalidInstanceID.Malformed", "{bad}");
    }
    let seen =
        error_seen(ec2.describe_instances().instance_ids("i-0123456789abcdef0").send().await.expect_err("unknown"));
    assert_eq!(seen.code, "InvalidInstanceID.NotFound");

    // Address ranges, as AWS checks them.
    let cidr = |c: &'static str| {
        let ec2 = ec2.clone();
        let vpc_id = vpc_id.clone();
        async move { error_seen(ec2.create_subnet().vpc_id(vpc_id).cidr_block(c).send().await.expect_err(c)).code }
    };
    assert_eq!(cidr("10.1.9.0/24").await, "InvalidSubnet.Conflict");
    assert_eq!(cidr("10.2.0.0/24").await, "InvalidSubnet.Range");
    assert_eq!(cidr("10.1.0.0/29").await, "InvalidSubnet.Range");
    assert_eq!(cidr("10.1.0.1/24").await, "InvalidParameterValue");
    let seen = error_seen(ec2.create_vpc().cidr_block("10.0.0.0/8").send().await.expect_err("too big"));
    assert_eq!(seen.code, "InvalidVpc.Range");
    let seen = error_seen(
        ec2.create_subnet().vpc_id("vpc-0123456789abcdef0").cidr_block("10.0.0.0/24").send().await.expect_err("vpc"),
    );
    assert_eq!(seen.code, "InvalidVpcID.NotFound");
    let seen = error_seen(ec2.delete_subnet().subnet_id("subnet-0123456789abcdef0").send().await.expect_err("gone"));
    assert_eq!(seen.code, "InvalidSubnetID.NotFound");
}

/// Key pairs hold real keys: an Ed25519 key in OpenSSH format and an RSA key in PKCS#1 PEM,
/// whose public halves import back with AWS's fingerprints; duplicates and unknown names fail.
pub async fn key_pairs_hold_real_keys(endpoint: String) {
    let ec2 = ec2(&endpoint, "sa-east-1");
    let ed = ec2.create_key_pair().key_name("ed").key_type(KeyType::Ed25519).send().await.expect("ed25519");
    let material = ed.key_material().expect("material");
    assert!(material.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"), "{material}");
    assert!(material.trim_end().ends_with("-----END OPENSSH PRIVATE KEY-----"));
    assert_eq!(ed.key_fingerprint().map(str::len), Some(44), "base64 SHA-256");
    assert!(ed.key_pair_id().is_some_and(|id| id.starts_with("key-")));
    let rsa = ec2.create_key_pair().key_name("rsa").send().await.expect("rsa by default");
    let material = rsa.key_material().expect("material");
    assert!(material.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{material}");
    assert_eq!(rsa.key_fingerprint().map(|f| f.split(':').count()), Some(20), "SHA-1, colon separated");

    let listed = ec2.describe_key_pairs().include_public_key(true).send().await.expect("DescribeKeyPairs");
    assert_eq!(listed.key_pairs().len(), 2);
    let ed_info = listed.key_pairs().iter().find(|k| k.key_name() == Some("ed")).expect("ed listed");
    assert_eq!(ed_info.key_type(), Some(&KeyType::Ed25519));
    assert_eq!(ed_info.key_fingerprint(), ed.key_fingerprint());
    let public = ed_info.public_key().expect("public key").to_string();
    assert!(public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"), "{public}");
    // If OpenSSH is installed, it must read the private key and derive the same public key.
    if let Ok(dir) = tempfile::tempdir() {
        let path = dir.path().join("ed");
        std::fs::write(&path, ed.key_material().unwrap_or_default()).expect("write key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        if let Ok(out) = std::process::Command::new("ssh-keygen").arg("-y").arg("-f").arg(&path).output() {
            assert!(out.status.success(), "ssh-keygen refused the key: {}", String::from_utf8_lossy(&out.stderr));
            let derived = String::from_utf8_lossy(&out.stdout);
            assert_eq!(derived.split_whitespace().nth(1), public.split_whitespace().nth(1));
        }
    }

    // The same public key imports under another name with the same Ed25519 fingerprint.
    let imported = ec2
        .import_key_pair()
        .key_name("laptop")
        .public_key_material(aws_sdk_ec2::primitives::Blob::new(public.as_bytes()))
        .send()
        .await
        .expect("ImportKeyPair");
    assert_eq!(imported.key_fingerprint(), ed.key_fingerprint());
    let rsa_public = listed.key_pairs().iter().find(|k| k.key_name() == Some("rsa")).and_then(|k| k.public_key());
    let imported_rsa = ec2
        .import_key_pair()
        .key_name("laptop-rsa")
        .public_key_material(aws_sdk_ec2::primitives::Blob::new(rsa_public.expect("rsa public").as_bytes()))
        .send()
        .await
        .expect("ImportKeyPair rsa");
    assert_eq!(imported_rsa.key_fingerprint().map(|f| f.split(':').count()), Some(16), "MD5 for imported RSA keys");
    let bad = ec2
        .import_key_pair()
        .key_name("bad")
        .public_key_material(aws_sdk_ec2::primitives::Blob::new("ssh-rsa not-a-key".as_bytes()))
        .send()
        .await
        .expect_err("bad key");
    assert_eq!(error_seen(bad).code, "InvalidKey.Format");
    let dup = ec2.create_key_pair().key_name("ed").send().await.expect_err("duplicate");
    assert_eq!(error_seen(dup).code, "InvalidKeyPair.Duplicate");
    let missing = ec2.describe_key_pairs().key_names("nobody").send().await.expect_err("missing");
    assert_eq!(error_seen(missing).code, "InvalidKeyPair.NotFound");

    // An instance launched with the key names it.
    let run = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(1)
        .max_count(1)
        .key_name("laptop")
        .send()
        .await
        .expect("RunInstances");
    assert_eq!(run.instances()[0].key_name(), Some("laptop"));
    let by_key = ec2.describe_instances().filters(filter("key-name", &["laptop"])).send().await.expect("by key");
    assert_eq!(by_key.reservations().len(), 1);

    ec2.delete_key_pair().key_name("laptop").send().await.expect("DeleteKeyPair");
    ec2.delete_key_pair().key_name("laptop").send().await.expect("deleting a missing name succeeds, as on AWS");
    let left = ec2.describe_key_pairs().send().await.expect("DescribeKeyPairs");
    let mut names: Vec<_> = left.key_pairs().iter().filter_map(|k| k.key_name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ed", "laptop-rsa", "rsa"]);
}

/// An image registered from a snapshot boots its bytes: blocks written with the EBS direct
/// APIs come back from a snapshot of the root volume of an instance launched from it.
/// CreateImage snapshots an instance's volumes; a snapshot in use by an image cannot go.
pub async fn images_boot_their_snapshots(endpoint: String) {
    let ec2 = ec2(&endpoint, "ap-south-1");
    let ebs = crate::ebs(&endpoint, "ap-south-1");
    let started = ebs.start_snapshot().volume_size(2).send().await.expect("StartSnapshot");
    let root_snap = started.snapshot_id().expect("id").to_string();
    let data = block(42);
    put_block(&ebs, &root_snap, 3, &data, sha256_b64(&data)).send().await.expect("PutSnapshotBlock");
    ebs.complete_snapshot().snapshot_id(&root_snap).changed_blocks_count(1).send().await.expect("CompleteSnapshot");
    snapshot_completed(&ec2, &root_snap).await;

    let register = || {
        ec2.register_image().name("golden-1").root_device_name("/dev/xvda").block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(EbsBlockDevice::builder().snapshot_id(&root_snap).build())
                .build(),
        )
    };
    let registered = register().send().await.expect("RegisterImage");
    let image = registered.image_id().expect("id").to_string();
    let mine = ec2.describe_images().owners("self").send().await.expect("DescribeImages");
    assert_eq!(mine.images().len(), 1);
    let described = &mine.images()[0];
    assert_eq!(described.name(), Some("golden-1"));
    assert_eq!(described.public(), Some(false));
    let mapping = &described.block_device_mappings()[0];
    assert_eq!(mapping.ebs().and_then(|e| e.snapshot_id()), Some(root_snap.as_str()));
    assert_eq!(mapping.ebs().and_then(|e| e.volume_size()), Some(2), "the snapshot's size");
    let dup = register().send().await.expect_err("duplicate name");
    assert_eq!(error_seen(dup).code, "InvalidAMIName.Duplicate");
    let in_use = ec2.delete_snapshot().snapshot_id(&root_snap).send().await.expect_err("used by the image");
    assert_eq!(error_seen(in_use).code, "InvalidSnapshot.InUse");

    // Launch: the root volume is restored from the image's snapshot, larger if asked.
    let run = ec2
        .run_instances()
        .image_id(&image)
        .min_count(1)
        .max_count(1)
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(EbsBlockDevice::builder().volume_size(4).build())
                .build(),
        )
        // A data volume from the same snapshot, its size taken from the snapshot.
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sdf")
                .ebs(EbsBlockDevice::builder().snapshot_id(&root_snap).build())
                .build(),
        )
        .send()
        .await
        .expect("RunInstances");
    let instance = run.instances()[0].instance_id().expect("id").to_string();
    // Mappings come in no particular order: find the root by its device.
    let root = run.instances()[0].block_device_mappings().iter().find(|m| m.device_name() == Some("/dev/xvda"));
    let root = root.and_then(|m| m.ebs()).and_then(|e| e.volume_id()).expect("root").to_string();
    let root_volume = ec2.describe_volumes().volume_ids(&root).send().await.expect("root");
    assert_eq!(root_volume.volumes()[0].snapshot_id(), Some(root_snap.as_str()));
    assert_eq!(root_volume.volumes()[0].size(), Some(4));
    let sdf = run.instances()[0].block_device_mappings().iter().find(|m| m.device_name() == Some("/dev/sdf"));
    let sdf = sdf.and_then(|m| m.ebs()).and_then(|e| e.volume_id()).expect("data volume").to_string();
    let data_volume = ec2.describe_volumes().volume_ids(&sdf).send().await.expect("data");
    assert_eq!(data_volume.volumes()[0].size(), Some(2), "the snapshot's size");
    assert_eq!(data_volume.volumes()[0].snapshot_id(), Some(root_snap.as_str()));
    until_instance(&ec2, &instance, InstanceStateName::Running).await;

    // CreateImage snapshots the running instance's root; that snapshot holds the same bytes.
    let created = ec2.create_image().instance_id(&instance).name("golden-2").send().await.expect("CreateImage");
    let image2 = created.image_id().expect("id").to_string();
    ec2.wait_until_image_available().image_ids(&image2).wait(WAITER).await.expect("image_available");
    let image2_desc = ec2.describe_images().image_ids(&image2).send().await.expect("describe");
    let image2_root =
        image2_desc.images()[0].block_device_mappings().iter().find(|m| m.device_name() == Some("/dev/xvda"));
    assert_eq!(image2_desc.images()[0].block_device_mappings().len(), 2, "one snapshot per attached volume");
    let snap2 = image2_root
        .expect("the root mapping")
        .ebs()
        .and_then(|e| e.snapshot_id())
        .expect("CreateImage took a snapshot")
        .to_string();
    assert_eq!(image2_desc.images()[0].source_instance_id(), Some(instance.as_str()));
    let listed = ebs.list_snapshot_blocks().snapshot_id(&snap2).send().await.expect("ListSnapshotBlocks");
    let b = listed.blocks().iter().find(|b| b.block_index() == Some(3)).expect("block 3 carried over");
    let got = ebs
        .get_snapshot_block()
        .snapshot_id(&snap2)
        .block_index(3)
        .block_token(b.block_token().expect("token"))
        .send()
        .await
        .expect("GetSnapshotBlock");
    let bytes = got.block_data.collect().await.expect("body").into_bytes();
    assert!(bytes.as_ref() == data.as_slice(), "the image's bytes booted the instance");

    let dereg =
        ec2.deregister_image().image_id(&image2).delete_associated_snapshots(true).send().await.expect("Deregister");
    assert_eq!(dereg.delete_snapshot_results().len(), 2);
    let gone = ec2.describe_snapshots().snapshot_ids(&snap2).send().await.expect_err("snapshot deleted with it");
    assert_eq!(error_seen(gone).code, "InvalidSnapshot.NotFound");
    let gone = ec2.describe_images().image_ids(&image2).send().await.expect_err("deregistered");
    assert_eq!(error_seen(gone).code, "InvalidAMIID.NotFound");
    ec2.deregister_image().image_id(&image).send().await.expect("DeregisterImage");
    ec2.delete_snapshot().snapshot_id(&root_snap).send().await.expect("no longer in use");
    let bad_name = ec2.create_image().instance_id(&instance).name("x").send().await.expect_err("too short");
    assert_eq!(error_seen(bad_name).code, "InvalidAMIName.Malformed");
}

/// Instance attributes as tools read and change them, ClientToken idempotency and UserData.
pub async fn instance_attributes_and_idempotency(endpoint: String) {
    let ec2 = ec2(&endpoint, "eu-north-1");
    let launch = || {
        ec2.run_instances()
            .image_id("ami-0123456789abcdef0")
            .min_count(1)
            .max_count(1)
            .client_token("launch-1")
            .user_data("IyEvYmluL3NoCmVjaG8gaGk=")
            .disable_api_termination(true)
    };
    let first = launch().send().await.expect("RunInstances");
    let again = launch().send().await.expect("same token, same answer");
    let id = first.instances()[0].instance_id().expect("id").to_string();
    assert_eq!(again.instances()[0].instance_id(), Some(id.as_str()));
    assert_eq!(again.reservation_id(), first.reservation_id());
    let all = ec2.describe_instances().send().await.expect("DescribeInstances");
    assert_eq!(all.reservations().len(), 1, "the retry launched nothing");
    let other = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .client_token("launch-1")
        .send()
        .await
        .expect_err("same token, other parameters");
    assert_eq!(error_seen(other).code, "IdempotentParameterMismatch");

    let attr = |name: InstanceAttributeName| ec2.describe_instance_attribute().instance_id(&id).attribute(name).send();
    let user_data = attr(InstanceAttributeName::UserData).await.expect("userData");
    assert_eq!(user_data.user_data().and_then(|v| v.value()), Some("IyEvYmluL3NoCmVjaG8gaGk="));
    let protected = attr(InstanceAttributeName::DisableApiTermination).await.expect("disableApiTermination");
    assert_eq!(protected.disable_api_termination().and_then(|v| v.value()), Some(true));
    let refused = ec2.terminate_instances().instance_ids(&id).send().await.expect_err("protected");
    assert_eq!(error_seen(refused).code, "OperationNotPermitted");

    until_instance(&ec2, &id, InstanceStateName::Running).await;
    let running = ec2
        .modify_instance_attribute()
        .instance_id(&id)
        .instance_type(AttributeValue::builder().value("m5.large").build())
        .send()
        .await
        .expect_err("type changes need a stopped instance");
    assert_eq!(error_seen(running).code, "IncorrectInstanceState");
    ec2.stop_instances().instance_ids(&id).send().await.expect("stop");
    until_instance(&ec2, &id, InstanceStateName::Stopped).await;
    ec2.modify_instance_attribute()
        .instance_id(&id)
        .instance_type(AttributeValue::builder().value("m5.large").build())
        .send()
        .await
        .expect("ModifyInstanceAttribute instanceType");
    let t = attr(InstanceAttributeName::InstanceType).await.expect("instanceType");
    assert_eq!(t.instance_type().and_then(|v| v.value()), Some("m5.large"));
    let both = ec2
        .modify_instance_attribute()
        .instance_id(&id)
        .disable_api_termination(AttributeBooleanValue::builder().value(false).build())
        .source_dest_check(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .expect_err("one attribute per call");
    assert_eq!(error_seen(both).code, "InvalidParameterCombination");
    ec2.modify_instance_attribute()
        .instance_id(&id)
        .disable_api_termination(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .expect("unprotect");
    let groups = attr(InstanceAttributeName::GroupSet).await.expect("groupSet");
    assert_eq!(groups.groups().len(), 1);
    let devices = attr(InstanceAttributeName::BlockDeviceMapping).await.expect("blockDeviceMapping");
    assert_eq!(devices.block_device_mappings()[0].device_name(), Some("/dev/xvda"));
    ec2.terminate_instances().instance_ids(&id).send().await.expect("terminate once unprotected");
    until_instance(&ec2, &id, InstanceStateName::Terminated).await;
}

/// The NBD data path of a running squall: an attached volume is listed, written and read back
/// through NBD, and its bytes are what a snapshot of it holds.
pub async fn nbd_round_trip(endpoint: String, nbd: std::net::SocketAddr) {
    use squall::nbd::client::{self, Client};
    let ec2 = ec2(&endpoint, "us-west-2");
    let run = run_one_in_zone(&ec2, "us-west-2b").await;
    let instance = run.instance_id().expect("id").to_string();
    until_instance(&ec2, &instance, InstanceStateName::Running).await;
    let volume = ec2.create_volume().availability_zone("us-west-2b").size(1).send().await.expect("CreateVolume");
    let volume = volume.volume_id().expect("id").to_string();
    volume_available(&ec2, &volume).await;
    ec2.attach_volume().volume_id(&volume).instance_id(&instance).device("/dev/sdg").send().await.expect("attach");
    ec2.wait_until_volume_in_use().volume_ids(&volume).wait(WAITER).await.expect("volume_in_use");
    assert!(client::list(nbd).await.expect("NBD_OPT_LIST").contains(&volume));
    let mut c = Client::connect(nbd, &volume).await.expect("NBD connect");
    assert_eq!(c.size, 1 << 30);
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
    assert_eq!(c.write(3 << 20, &data).await.expect("write"), Ok(vec![]));
    assert_eq!(c.flush().await.expect("flush"), Ok(vec![]));
    assert_eq!(c.read(3 << 20, 1 << 20).await.expect("read"), Ok(data));
    c.disconnect().await.expect("disconnect");
}

pub async fn run_one_in_zone(ec2: &aws_sdk_ec2::Client, zone: &str) -> aws_sdk_ec2::types::Instance {
    let out = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(1)
        .max_count(1)
        .placement(Placement::builder().availability_zone(zone).build())
        .send()
        .await
        .expect("RunInstances");
    out.instances()[0].clone()
}
