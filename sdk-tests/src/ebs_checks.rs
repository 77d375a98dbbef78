//! EBS through the EC2 API, as an SDK user drives it: lifecycles with the SDK's own waiters,
//! validation errors with AWS's codes, pagination, snapshots and tags.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_ec2::types::{
    CreateVolumePermission, CreateVolumePermissionModifications, ResourceType, SnapshotAttributeName, SnapshotState,
    Tag, TagSpecification, VolumeAttributeName, VolumeModificationState, VolumeState, VolumeType,
};

use aws_sdk_ec2::client::Waiters;

use crate::checks::filter;
use crate::{ec2, error_seen};

const WAIT: Duration = Duration::from_secs(120);

pub(crate) fn tags(pairs: &[(&str, &str)], resource: ResourceType) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
        .build()
}

/// CreateVolume → `volume_available` waiter → ModifyVolume → snapshot → DeleteVolume →
/// `snapshot_completed` and `volume_deleted` waiters, checking every field a user reads.
pub async fn volume_lifecycle_with_waiters(endpoint: String) {
    let client = ec2(&endpoint, "eu-west-2");
    let created = client
        .create_volume()
        .availability_zone("eu-west-2b")
        .size(8)
        .volume_type(VolumeType::Gp3)
        .tag_specifications(tags(&[("Name", "data"), ("env", "test")], ResourceType::Volume))
        .send()
        .await
        .expect("CreateVolume");
    let id = created.volume_id().expect("volume id").to_string();
    assert!(id.starts_with("vol-") && id.len() == 21, "{id}");
    assert_eq!(created.state(), Some(&VolumeState::Creating));
    assert_eq!(created.size(), Some(8));
    assert_eq!((created.iops(), created.throughput()), (Some(3000), Some(125)), "gp3 defaults");
    assert_eq!(created.availability_zone_id(), Some("euw2-az2"));

    client.wait_until_volume_available().volume_ids(&id).wait(WAIT).await.expect("volume_available waiter");
    let described = client.describe_volumes().volume_ids(&id).send().await.expect("DescribeVolumes");
    let v = &described.volumes()[0];
    assert_eq!(v.state(), Some(&VolumeState::Available));
    assert_eq!(v.volume_type(), Some(&VolumeType::Gp3));
    assert_eq!(v.tags().len(), 2);
    assert!(v.attachments().is_empty());
    assert_eq!(v.encrypted(), Some(false));

    let status = client.describe_volume_status().volume_ids(&id).send().await.expect("DescribeVolumeStatus");
    let item = &status.volume_statuses()[0];
    assert_eq!(item.volume_status().and_then(|s| s.status()).map(|s| s.as_str()), Some("ok"));
    let attr = client
        .describe_volume_attribute()
        .volume_id(&id)
        .attribute(VolumeAttributeName::AutoEnableIo)
        .send()
        .await
        .expect("attr");
    assert_eq!(attr.auto_enable_io().and_then(|a| a.value()), Some(false));
    client
        .modify_volume_attribute()
        .volume_id(&id)
        .auto_enable_io(aws_sdk_ec2::types::AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifyVolumeAttribute");
    let attr = client
        .describe_volume_attribute()
        .volume_id(&id)
        .attribute(VolumeAttributeName::AutoEnableIo)
        .send()
        .await
        .expect("attr");
    assert_eq!(attr.auto_enable_io().and_then(|a| a.value()), Some(true));
    client.enable_volume_io().volume_id(&id).send().await.expect("EnableVolumeIO");

    let modified = client.modify_volume().volume_id(&id).size(20).iops(4000).send().await.expect("ModifyVolume");
    let m = modified.volume_modification().expect("modification");
    assert_eq!(m.modification_state(), Some(&VolumeModificationState::Modifying));
    assert_eq!((m.original_size(), m.target_size(), m.target_iops()), (Some(8), Some(20), Some(4000)));
    let again = client.modify_volume().volume_id(&id).size(30).send().await.expect_err("one modification at a time");
    assert_eq!(error_seen(again).code, "IncorrectModificationState");
    let shown = client.describe_volumes().volume_ids(&id).send().await.expect("DescribeVolumes");
    assert_eq!(shown.volumes()[0].size(), Some(20));
    let mods =
        client.describe_volumes_modifications().volume_ids(&id).send().await.expect("DescribeVolumesModifications");
    let m = &mods.volumes_modifications()[0];
    assert_eq!((m.volume_id(), m.original_size(), m.target_size()), (Some(id.as_str()), Some(8), Some(20)));
    let seen = error_seen(
        client.describe_volumes_modifications().volume_ids("vol-0123456789abcdef0").send().await.expect_err("missing"),
    );
    assert_eq!(seen.code, "InvalidVolume.NotFound");

    let snapshot =
        client.create_snapshot().volume_id(&id).description("before delete").send().await.expect("CreateSnapshot");
    let snap_id = snapshot.snapshot_id().expect("snapshot id").to_string();
    assert_eq!(snapshot.state(), Some(&SnapshotState::Pending));
    assert_eq!(snapshot.volume_size(), Some(20));
    client.delete_volume().volume_id(&id).send().await.expect("DeleteVolume");
    let (snap_done, deleted) = tokio::join!(
        client.wait_until_snapshot_completed().snapshot_ids(&snap_id).wait(WAIT),
        client.wait_until_volume_deleted().volume_ids(&id).wait(WAIT),
    );
    snap_done.expect("snapshot_completed waiter");
    deleted.expect("volume_deleted waiter");
    let gone = client.describe_volumes().volume_ids(&id).send().await.expect_err("deleted");
    assert_eq!(error_seen(gone).code, "InvalidVolume.NotFound");
    let mods = client.describe_volumes_modifications().send().await.expect("DescribeVolumesModifications");
    assert!(
        mods.volumes_modifications().iter().all(|m| m.volume_id() != Some(id.as_str())),
        "modifications go with their volume"
    );
}

pub async fn volume_validation_errors(endpoint: String) {
    let client = ec2(&endpoint, "eu-west-3");
    let cases: Vec<(aws_sdk_ec2::operation::create_volume::builders::CreateVolumeFluentBuilder, u16, &str, &str)> = vec![
        (client.create_volume().availability_zone("eu-west-3z").size(1), 400, "InvalidParameterValue", "eu-west-3z"),
        (client.create_volume().availability_zone("eu-west-3a"), 400, "MissingParameter", "size"),
        (
            client.create_volume().availability_zone("eu-west-3a").size(20_000),
            400,
            "InvalidParameterValue",
            "too large",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).volume_type(VolumeType::St1),
            400,
            "InvalidParameterValue",
            "too small",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).iops(300),
            400,
            "InvalidParameterCombination",
            "iops",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).volume_type(VolumeType::Io2),
            400,
            "MissingParameter",
            "iops",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).volume_type(VolumeType::Io1).iops(1000),
            400,
            "InvalidParameterValue",
            "ratio",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).multi_attach_enabled(true),
            400,
            "InvalidParameterCombination",
            "Multi-Attach",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).snapshot_id("snap-0123456789abcdef0"),
            400,
            "InvalidSnapshot.NotFound",
            "snap-0123456789abcdef0",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").availability_zone_id("euw3-az1").size(10),
            400,
            "InvalidParameterCombination",
            "AvailabilityZone",
        ),
        (
            client.create_volume().availability_zone("eu-west-3a").size(10).dry_run(true),
            412,
            "DryRunOperation",
            "DryRun flag is set",
        ),
        (
            client
                .create_volume()
                .availability_zone("eu-west-3a")
                .size(1)
                .tag_specifications(tags(&[("aws:owner", "x")], ResourceType::Volume)),
            400,
            "InvalidParameterValue",
            "aws:",
        ),
    ];
    for (call, status, code, needle) in cases {
        let seen = error_seen(call.send().await.expect_err("must fail"));
        assert_eq!((seen.status, seen.code.as_str()), (status, code), "{seen:?}");
        assert!(seen.message.contains(needle), "{needle:?} not in {seen:?}");
    }
    // Nothing was created by any of them, the dry run included.
    let all = client.describe_volumes().send().await.expect("DescribeVolumes");
    assert!(all.volumes().is_empty(), "{:?}", all.volumes());

    for (id, code) in [("vol-xyz", "InvalidVolumeID.Malformed"), ("vol-0123456789abcdef0", "InvalidVolume.NotFound")] {
        let seen = error_seen(client.delete_volume().volume_id(id).send().await.expect_err("bad id"));
        assert_eq!((seen.status, seen.code.as_str()), (400, code));
        let seen = error_seen(client.describe_volumes().volume_ids(id).send().await.expect_err("bad id"));
        assert_eq!(seen.code, code);
    }
    let seen = error_seen(client.describe_volumes().max_results(2).send().await.expect_err("MaxResults under 5"));
    assert_eq!(seen.code, "InvalidParameterValue");
    let seen = error_seen(
        client
            .attach_volume()
            .volume_id("vol-0123456789abcdef0")
            .instance_id("i-0123456789abcdef0")
            .device("/dev/sdf")
            .send()
            .await
            .expect_err("no such volume"),
    );
    assert_eq!(seen.code, "InvalidVolume.NotFound");
    let created = client.create_volume().availability_zone("eu-west-3a").size(1).send().await.expect("create");
    let vol = created.volume_id().expect("id");
    let seen = error_seen(
        client
            .attach_volume()
            .volume_id(vol)
            .instance_id("i-0123456789abcdef0")
            .device("/dev/sdf")
            .send()
            .await
            .expect_err("no instance"),
    );
    assert_eq!(seen.code, "InvalidInstanceID.NotFound");
    let seen = error_seen(client.delete_volume().volume_id(vol).send().await.expect_err("still creating"));
    assert_eq!(seen.code, "IncorrectState");
    let seen = error_seen(client.detach_volume().volume_id(vol).send().await.expect_err("not attached"));
    assert_eq!(seen.code, "IncorrectState");
}

/// A zone's storage cluster is finite: two 64 TiB io2 volumes fill its four 64 TiB nodes, and the
/// third gets AWS's `InsufficientVolumeCapacity`. Other zones are unaffected.
pub async fn volume_capacity_is_finite(endpoint: String) {
    let client = ec2(&endpoint, "sa-east-1");
    let big = || {
        client.create_volume().availability_zone("sa-east-1c").size(65_536).volume_type(VolumeType::Io2).iops(64_000)
    };
    for _ in 0..2 {
        big().send().await.expect("a 64 TiB volume fits");
    }
    let seen = error_seen(big().send().await.expect_err("the cluster is full"));
    assert_eq!((seen.status, seen.code.as_str()), (500, "InsufficientVolumeCapacity"));
    client
        .create_volume()
        .availability_zone("sa-east-1a")
        .size(65_536)
        .volume_type(VolumeType::Io2)
        .iops(64_000)
        .send()
        .await
        .expect("another zone has room");
    let in_c =
        client.describe_volumes().filters(filter("availability-zone", &["sa-east-1c"])).send().await.expect("describe");
    assert_eq!(in_c.volumes().len(), 2, "the refused volume was not created");
}

pub async fn describe_volumes_pages_through_1000_volumes(endpoint: String) {
    let client = ec2(&endpoint, "ap-south-1");
    let mut created = BTreeSet::new();
    for i in 0..1000 {
        let az = ["ap-south-1a", "ap-south-1b", "ap-south-1c"][i % 3];
        let out = client.create_volume().availability_zone(az).size(1).send().await.expect("CreateVolume");
        created.insert(out.volume_id().expect("id").to_string());
    }
    assert_eq!(created.len(), 1000);
    let mut seen = Vec::new();
    let mut pages = client.describe_volumes().max_results(5).into_paginator().send();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        assert!(page.volumes().len() <= 5);
        page_count += 1;
        seen.extend(page.volumes().iter().map(|v| v.volume_id().expect("id").to_string()));
    }
    assert_eq!(seen.len(), 1000, "each volume exactly once");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);
    assert_eq!(page_count, 200);
    let filtered =
        client.describe_volumes().filters(filter("availability-zone", &["ap-south-1b"])).send().await.expect("filter");
    assert_eq!(filtered.volumes().len(), 333);
}

pub async fn snapshots_copies_and_permissions(endpoint: String) {
    let client = ec2(&endpoint, "ca-central-1");
    let volume = client.create_volume().availability_zone("ca-central-1a").size(4).send().await.expect("create");
    let vol = volume.volume_id().expect("id").to_string();
    let snap = client
        .create_snapshot()
        .volume_id(&vol)
        .tag_specifications(tags(&[("purpose", "backup")], ResourceType::Snapshot))
        .send()
        .await
        .expect("CreateSnapshot");
    let snap_id = snap.snapshot_id().expect("id").to_string();
    assert_eq!(snap.owner_id(), Some("000000000000"));
    let restored =
        client.create_volume().availability_zone("ca-central-1b").snapshot_id(&snap_id).send().await.expect("restore");
    assert_eq!((restored.size(), restored.snapshot_id()), (Some(4), Some(snap_id.as_str())));
    let seen = error_seen(
        client
            .create_volume()
            .availability_zone("ca-central-1b")
            .snapshot_id(&snap_id)
            .size(2)
            .send()
            .await
            .expect_err("smaller than snapshot"),
    );
    assert_eq!(seen.code, "InvalidParameterValue");

    let copy = client
        .copy_snapshot()
        .source_region("ca-central-1")
        .source_snapshot_id(&snap_id)
        .description("copy")
        .send()
        .await
        .expect("CopySnapshot");
    let copy_id = copy.snapshot_id().expect("id").to_string();
    assert_ne!(copy_id, snap_id);
    let mine = client.describe_snapshots().owner_ids("self").send().await.expect("DescribeSnapshots");
    let ids: BTreeSet<_> = mine.snapshots().iter().filter_map(|s| s.snapshot_id()).collect();
    assert_eq!(ids, [snap_id.as_str(), copy_id.as_str()].into_iter().collect());
    let amazon = client.describe_snapshots().owner_ids("amazon").send().await.expect("amazon");
    assert!(amazon.snapshots().is_empty());
    let tagged = client.describe_snapshots().filters(filter("tag:purpose", &["backup"])).send().await.expect("filter");
    assert_eq!(tagged.snapshots().len(), 1);

    client
        .modify_snapshot_attribute()
        .snapshot_id(&snap_id)
        .create_volume_permission(
            CreateVolumePermissionModifications::builder()
                .add(CreateVolumePermission::builder().user_id("111122223333").build())
                .build(),
        )
        .send()
        .await
        .expect("ModifySnapshotAttribute");
    let attr = client
        .describe_snapshot_attribute()
        .snapshot_id(&snap_id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .expect("attr");
    let users: Vec<_> = attr.create_volume_permissions().iter().filter_map(|p| p.user_id()).collect();
    assert_eq!(users, ["111122223333"]);
    let restorable =
        client.describe_snapshots().restorable_by_user_ids("111122223333").send().await.expect("restorable");
    assert_eq!(restorable.snapshots().len(), 1);
    client
        .reset_snapshot_attribute()
        .snapshot_id(&snap_id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .expect("reset");
    let attr = client
        .describe_snapshot_attribute()
        .snapshot_id(&snap_id)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .expect("attr");
    assert!(attr.create_volume_permissions().is_empty());

    client.delete_snapshot().snapshot_id(&copy_id).send().await.expect("DeleteSnapshot");
    let seen = error_seen(client.describe_snapshots().snapshot_ids(&copy_id).send().await.expect_err("deleted"));
    assert_eq!((seen.status, seen.code.as_str()), (400, "InvalidSnapshot.NotFound"));
    let seen = error_seen(client.delete_snapshot().snapshot_id("snap-zz").send().await.expect_err("malformed"));
    assert_eq!(seen.code, "InvalidSnapshotID.Malformed");
}

pub async fn tags_on_volumes_and_snapshots(endpoint: String) {
    let client = ec2(&endpoint, "eu-north-1");
    let v = client.create_volume().availability_zone("eu-north-1a").size(1).send().await.expect("create");
    let vol = v.volume_id().expect("id").to_string();
    client
        .create_tags()
        .resources(&vol)
        .tags(Tag::builder().key("team").value("storage").build())
        .tags(Tag::builder().key("tier").value("gold").build())
        .send()
        .await
        .expect("CreateTags");
    let found = client.describe_tags().filters(filter("resource-id", &[&vol])).send().await.expect("DescribeTags");
    let keys: Vec<_> = found.tags().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["team", "tier"]);
    assert_eq!(found.tags()[0].resource_type().map(|t| t.as_str()), Some("volume"));
    let by_tag = client.describe_volumes().filters(filter("tag:tier", &["gold"])).send().await.expect("by tag");
    assert_eq!(by_tag.volumes().len(), 1);
    client
        .delete_tags()
        .resources(&vol)
        .tags(Tag::builder().key("tier").value("silver").build())
        .send()
        .await
        .expect("DeleteTags");
    let still =
        client.describe_tags().filters(filter("key", &["tier"])).send().await.expect("value mismatch keeps the tag");
    assert_eq!(still.tags().len(), 1);
    client.delete_tags().resources(&vol).tags(Tag::builder().key("tier").build()).send().await.expect("DeleteTags");
    let left = client.describe_tags().send().await.expect("DescribeTags");
    assert_eq!(left.tags().len(), 1);

    let many: Vec<Tag> = (0..51).map(|i| Tag::builder().key(format!("k{i}")).value("v").build()).collect();
    let seen = error_seen(client.create_tags().resources(&vol).set_tags(Some(many)).send().await.expect_err("51 tags"));
    assert_eq!(seen.code, "TagLimitExceeded");
    let seen = error_seen(
        client
            .create_tags()
            .resources("vol-0123456789abcdef0")
            .tags(Tag::builder().key("a").value("b").build())
            .send()
            .await
            .expect_err("no such volume"),
    );
    assert_eq!(seen.code, "InvalidVolume.NotFound");
    let seen = error_seen(
        client
            .create_tags()
            .resources("bogus-1")
            .tags(Tag::builder().key("a").value("b").build())
            .send()
            .await
            .expect_err("bad id"),
    );
    assert_eq!(seen.code, "InvalidID");
}

pub(crate) fn block(seed: u8) -> Vec<u8> {
    (0..512 * 1024usize).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect()
}

pub(crate) fn sha256_b64(data: &[u8]) -> String {
    use sha2::Digest;
    squall::support::base64_encode(&sha2::Sha256::digest(data))
}

/// PutSnapshotBlock of one 512 KiB block with its SHA-256, as the EBS direct APIs require.
pub(crate) fn put_block(
    ebs: &aws_sdk_ebs::Client,
    snapshot: &str,
    index: i32,
    data: &[u8],
    checksum: String,
) -> aws_sdk_ebs::operation::put_snapshot_block::builders::PutSnapshotBlockFluentBuilder {
    ebs.put_snapshot_block()
        .snapshot_id(snapshot)
        .block_index(index)
        .data_length(524_288)
        .checksum(checksum)
        .checksum_algorithm(aws_sdk_ebs::types::ChecksumAlgorithm::ChecksumAlgorithmSha256)
        .block_data(aws_sdk_ebs::primitives::ByteStream::from(data.to_vec()))
}

/// Polls every 50 ms (the SDK's waiters poll every 15 s; `volume_lifecycle_with_waiters` uses those).
/// Calls `check` every 50 ms until it holds, for at most 10 s, then fails naming `what`.
pub(crate) async fn poll_until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within 10 s");
}

pub(crate) async fn snapshot_completed(ec2: &aws_sdk_ec2::Client, id: &str) {
    poll_until(&format!("snapshot {id} completing"), || async {
        let out = ec2.describe_snapshots().snapshot_ids(id).send().await.expect("DescribeSnapshots");
        out.snapshots().first().and_then(|s| s.state()) == Some(&SnapshotState::Completed)
    })
    .await;
}

pub(crate) async fn volume_available(ec2: &aws_sdk_ec2::Client, id: &str) {
    poll_until(&format!("volume {id} becoming available"), || async {
        let out = ec2.describe_volumes().volume_ids(id).send().await.expect("DescribeVolumes");
        out.volumes().first().and_then(|v| v.state()) == Some(&VolumeState::Available)
    })
    .await;
}

/// EBS direct APIs end to end: write blocks, complete with the LINEAR checksum, restore the
/// snapshot as a volume in another zone, snapshot that volume through EC2, read every block back.
pub async fn ebs_direct_blocks_round_trip_through_volumes(endpoint: String) {
    use sha2::Digest;
    let ebs = crate::ebs(&endpoint, "us-east-2");
    let ec2 = ec2(&endpoint, "us-east-2");
    let started = ebs.start_snapshot().volume_size(8).description("direct").send().await.expect("StartSnapshot");
    let first = started.snapshot_id().expect("id").to_string();
    assert_eq!((started.block_size(), started.volume_size()), (Some(524_288), Some(8)));
    let blocks: Vec<(i32, Vec<u8>)> = vec![(0, block(3)), (5, block(7)), (9, block(11))];
    let mut digests = Vec::new();
    for (index, data) in &blocks {
        let out = put_block(&ebs, &first, *index, data, sha256_b64(data)).send().await.expect("PutSnapshotBlock");
        assert_eq!(out.checksum(), Some(sha256_b64(data).as_str()));
        digests.extend_from_slice(&sha2::Sha256::digest(data));
    }
    let bad =
        put_block(&ebs, &first, 1, &block(1), sha256_b64(b"something else")).send().await.expect_err("wrong checksum");
    let seen = error_seen(bad);
    assert_eq!((seen.status, seen.code.as_str()), (400, "ValidationException"));
    let linear = squall::support::base64_encode(&sha2::Sha256::digest(&digests));
    let wrong_count =
        ebs.complete_snapshot().snapshot_id(&first).changed_blocks_count(2).send().await.expect_err("count");
    assert_eq!(error_seen(wrong_count).code, "ValidationException");
    ebs.complete_snapshot()
        .snapshot_id(&first)
        .changed_blocks_count(3)
        .checksum(&linear)
        .checksum_algorithm(aws_sdk_ebs::types::ChecksumAlgorithm::ChecksumAlgorithmSha256)
        .checksum_aggregation_method(aws_sdk_ebs::types::ChecksumAggregationMethod::ChecksumAggregationLinear)
        .send()
        .await
        .expect("CompleteSnapshot");
    snapshot_completed(&ec2, &first).await;

    let listed = ebs.list_snapshot_blocks().snapshot_id(&first).send().await.expect("ListSnapshotBlocks");
    let indices: Vec<i32> = listed.blocks().iter().filter_map(|b| b.block_index()).collect();
    assert_eq!(indices, [0, 5, 9]);
    for (b, (_, data)) in listed.blocks().iter().zip(&blocks) {
        let got = ebs
            .get_snapshot_block()
            .snapshot_id(&first)
            .block_index(b.block_index().expect("index"))
            .block_token(b.block_token().expect("token"))
            .send()
            .await
            .expect("GetSnapshotBlock");
        assert_eq!(got.checksum(), Some(sha256_b64(data).as_str()));
        let bytes = got.block_data.collect().await.expect("body").into_bytes();
        assert!(bytes.as_ref() == data.as_slice(), "block bytes differ");
    }
    let bad_token = ebs
        .get_snapshot_block()
        .snapshot_id(&first)
        .block_index(5)
        .block_token("AAAA")
        .send()
        .await
        .expect_err("token");
    assert_eq!(error_seen(bad_token).code, "ValidationException");
    let missing = ebs.list_snapshot_blocks().snapshot_id("snap-0123456789abcdef0").send().await.expect_err("missing");
    let seen = error_seen(missing);
    assert_eq!((seen.status, seen.code.as_str()), (404, "ResourceNotFoundException"));

    // The snapshot restores as a volume in another zone, and a snapshot of that volume holds the same bytes.
    let volume = ec2.create_volume().availability_zone("us-east-2c").snapshot_id(&first).send().await.expect("restore");
    let vol = volume.volume_id().expect("id").to_string();
    volume_available(&ec2, &vol).await;
    let again = ec2.create_snapshot().volume_id(&vol).send().await.expect("CreateSnapshot");
    let second = again.snapshot_id().expect("id").to_string();
    snapshot_completed(&ec2, &second).await;
    let listed = ebs.list_snapshot_blocks().snapshot_id(&second).send().await.expect("ListSnapshotBlocks");
    let indices: Vec<i32> = listed.blocks().iter().filter_map(|b| b.block_index()).collect();
    assert_eq!(indices, [0, 5, 9], "the restored volume holds exactly the written blocks");
    for (b, (_, data)) in listed.blocks().iter().zip(&blocks) {
        let got = ebs
            .get_snapshot_block()
            .snapshot_id(&second)
            .block_index(b.block_index().expect("index"))
            .block_token(b.block_token().expect("token"))
            .send()
            .await
            .expect("GetSnapshotBlock");
        let bytes = got.block_data.collect().await.expect("body").into_bytes();
        assert!(bytes.as_ref() == data.as_slice(), "bytes differ after the round trip");
    }
    let unchanged = ebs
        .list_changed_blocks()
        .first_snapshot_id(&first)
        .second_snapshot_id(&second)
        .send()
        .await
        .expect("same lineage");
    assert!(unchanged.changed_blocks().is_empty(), "{:?}", unchanged.changed_blocks());

    // A child snapshot that rewrites block 5 and adds block 12 differs in exactly those.
    let child = ebs.start_snapshot().volume_size(8).parent_snapshot_id(&first).send().await.expect("child");
    let child_id = child.snapshot_id().expect("id").to_string();
    for (index, seed) in [(5, 99u8), (12, 42u8)] {
        let data = block(seed);
        put_block(&ebs, &child_id, index, &data, sha256_b64(&data)).send().await.expect("PutSnapshotBlock");
    }
    ebs.complete_snapshot().snapshot_id(&child_id).changed_blocks_count(2).send().await.expect("complete");
    snapshot_completed(&ec2, &child_id).await;
    let changed = ebs
        .list_changed_blocks()
        .first_snapshot_id(&first)
        .second_snapshot_id(&child_id)
        .send()
        .await
        .expect("changed");
    let indices: Vec<i32> = changed.changed_blocks().iter().filter_map(|b| b.block_index()).collect();
    assert_eq!(indices, [5, 12]);
    assert!(changed.changed_blocks()[1].first_block_token().is_none(), "block 12 is new in the child");
    let other = ebs.start_snapshot().volume_size(1).send().await.expect("unrelated");
    let other_id = other.snapshot_id().expect("id").to_string();
    ebs.complete_snapshot().snapshot_id(&other_id).changed_blocks_count(0).send().await.expect("complete empty");
    snapshot_completed(&ec2, &other_id).await;
    let seen = error_seen(
        ebs.list_changed_blocks()
            .first_snapshot_id(&other_id)
            .second_snapshot_id(&first)
            .send()
            .await
            .expect_err("unrelated"),
    );
    assert_eq!(seen.code, "ValidationException");
}

pub(crate) async fn instance_state(ec2: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::InstanceStateName {
    let out = ec2.describe_instances().instance_ids(id).send().await.expect("DescribeInstances");
    out.reservations()[0].instances()[0].state().and_then(|s| s.name()).cloned().expect("state")
}

pub(crate) async fn until_instance(ec2: &aws_sdk_ec2::Client, id: &str, want: aws_sdk_ec2::types::InstanceStateName) {
    poll_until(&format!("instance {id} reaching {want:?}"), || async { instance_state(ec2, id).await == want }).await;
}

/// Instances own real volumes: a root volume at launch, volumes attached later (with the SDK's
/// `volume_in_use` waiter), the zone, device and in-use rules, and what termination does to them.
pub async fn instances_own_volumes_and_attach_them(endpoint: String) {
    use aws_sdk_ec2::types::{InstanceStateName, InstanceType, Placement, VolumeAttachmentState};
    let ec2 = ec2(&endpoint, "eu-central-1");
    let run = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .placement(Placement::builder().availability_zone("eu-central-1b").build())
        .tag_specifications(tags(&[("Name", "web")], ResourceType::Instance))
        .send()
        .await
        .expect("RunInstances");
    let instance = &run.instances()[0];
    let id = instance.instance_id().expect("id").to_string();
    assert_eq!(instance.state().and_then(|s| s.name()), Some(&InstanceStateName::Pending));
    assert_eq!(instance.placement().and_then(|p| p.availability_zone()), Some("eu-central-1b"));
    let root = instance.block_device_mappings()[0].ebs().and_then(|e| e.volume_id()).expect("root volume").to_string();
    until_instance(&ec2, &id, InstanceStateName::Running).await;
    let root_volume = ec2.describe_volumes().volume_ids(&root).send().await.expect("root");
    assert_eq!(root_volume.volumes()[0].state(), Some(&VolumeState::InUse));
    assert_eq!(root_volume.volumes()[0].attachments()[0].instance_id(), Some(id.as_str()));

    let data = ec2.create_volume().availability_zone("eu-central-1b").size(2).send().await.expect("create");
    let vol = data.volume_id().expect("id").to_string();
    volume_available(&ec2, &vol).await;
    let attached =
        ec2.attach_volume().volume_id(&vol).instance_id(&id).device("/dev/sdf").send().await.expect("AttachVolume");
    assert_eq!(attached.state(), Some(&VolumeAttachmentState::Attaching));
    // As on AWS, the volume is `in-use` from the start of the attachment; the attachment itself
    // goes attaching → attached.
    ec2.wait_until_volume_in_use().volume_ids(&vol).wait(WAIT).await.expect("volume_in_use waiter");
    poll_until("the attachment becoming attached", || async {
        let shown = ec2.describe_volumes().volume_ids(&vol).send().await.expect("describe");
        shown.volumes()[0].attachments().first().and_then(|a| a.state()) == Some(&VolumeAttachmentState::Attached)
    })
    .await;

    let other = ec2.create_volume().availability_zone("eu-central-1a").size(1).send().await.expect("create");
    let other_id = other.volume_id().expect("id").to_string();
    volume_available(&ec2, &other_id).await;
    let seen = error_seen(
        ec2.attach_volume().volume_id(&other_id).instance_id(&id).device("/dev/sdg").send().await.expect_err("zone"),
    );
    assert_eq!(seen.code, "InvalidVolume.ZoneMismatch");
    let seen = error_seen(
        ec2.attach_volume().volume_id(&vol).instance_id(&id).device("/dev/sdh").send().await.expect_err("in use"),
    );
    assert_eq!(seen.code, "VolumeInUse");
    let seen = error_seen(ec2.delete_volume().volume_id(&vol).send().await.expect_err("attached"));
    assert_eq!(seen.code, "VolumeInUse");
    let third = ec2.create_volume().availability_zone("eu-central-1b").size(1).send().await.expect("create");
    let third_id = third.volume_id().expect("id").to_string();
    volume_available(&ec2, &third_id).await;
    let seen = error_seen(
        ec2.attach_volume().volume_id(&third_id).instance_id(&id).device("/dev/sdf").send().await.expect_err("device"),
    );
    assert_eq!(seen.code, "InvalidParameterValue");

    let detached = ec2.detach_volume().volume_id(&vol).send().await.expect("DetachVolume");
    assert_eq!(detached.state(), Some(&VolumeAttachmentState::Detaching));
    volume_available(&ec2, &vol).await;

    ec2.stop_instances().instance_ids(&id).send().await.expect("StopInstances");
    until_instance(&ec2, &id, InstanceStateName::Stopped).await;
    let started = ec2.start_instances().instance_ids(&id).send().await.expect("StartInstances");
    assert_eq!(
        started.starting_instances()[0].current_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Pending)
    );
    until_instance(&ec2, &id, InstanceStateName::Running).await;
    ec2.attach_volume().volume_id(&vol).instance_id(&id).device("/dev/sdf").send().await.expect("attach again");
    let all = ec2
        .create_snapshots()
        .instance_specification(aws_sdk_ec2::types::InstanceSpecification::builder().instance_id(&id).build())
        .description("whole instance")
        .send()
        .await
        .expect("CreateSnapshots");
    let mut of: Vec<_> = all.snapshots().iter().filter_map(|s| s.volume_id()).collect();
    of.sort_unstable();
    let mut expected = vec![root.as_str(), vol.as_str()];
    expected.sort_unstable();
    assert_eq!(of, expected, "one snapshot per attached volume");
    let data_only = ec2
        .create_snapshots()
        .instance_specification(
            aws_sdk_ec2::types::InstanceSpecification::builder().instance_id(&id).exclude_boot_volume(true).build(),
        )
        .send()
        .await
        .expect("CreateSnapshots without the boot volume");
    let of: Vec<_> = data_only.snapshots().iter().filter_map(|s| s.volume_id()).collect();
    assert_eq!(of, [vol.as_str()]);
    let terminated = ec2.terminate_instances().instance_ids(&id).send().await.expect("TerminateInstances");
    assert_eq!(terminated.terminating_instances()[0].current_state().and_then(|s| s.code()), Some(32));
    until_instance(&ec2, &id, InstanceStateName::Terminated).await;
    let reason = ec2.describe_instances().instance_ids(&id).send().await.expect("describe");
    assert!(reason.reservations()[0].instances()[0]
        .state_transition_reason()
        .unwrap_or_default()
        .starts_with("User initiated ("));
    // The root volume was delete-on-termination; the attached one is released.
    volume_available(&ec2, &vol).await;
    poll_until("the root volume being deleted", || async {
        ec2.describe_volumes().volume_ids(&root).send().await.is_err()
    })
    .await;
    let seen = error_seen(ec2.describe_volumes().volume_ids(&root).send().await.expect_err("root deleted"));
    assert_eq!(seen.code, "InvalidVolume.NotFound");

    let seen = error_seen(
        ec2.run_instances().image_id("ami-xyz").min_count(1).max_count(1).send().await.expect_err("bad ami"),
    );
    assert_eq!(seen.code, "InvalidAMIID.Malformed");
    let seen =
        error_seen(ec2.describe_instances().instance_ids("i-0123456789abcdef0").send().await.expect_err("missing"));
    assert_eq!(seen.code, "InvalidInstanceID.NotFound");
    let seen = error_seen(ec2.stop_instances().instance_ids("i-nope").send().await.expect_err("malformed"));
    assert_eq!(seen.code, "InvalidInstanceID.Malformed");
    let seen = error_seen(ec2.start_instances().instance_ids(&id).send().await.expect_err("terminated"));
    assert_eq!(seen.code, "IncorrectInstanceState");
}

/// Every region has a default VPC with a default subnet per zone; a subnet decides an instance's zone.
pub async fn default_network_places_instances(endpoint: String) {
    let ec2 = ec2(&endpoint, "ap-northeast-2");
    let vpcs = ec2.describe_vpcs().send().await.expect("DescribeVpcs");
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    assert_eq!((vpc.cidr_block(), vpc.is_default()), (Some("172.31.0.0/16"), Some(true)));
    let vpc_id = vpc.vpc_id().expect("vpc id").to_string();
    let subnets = ec2.describe_subnets().filters(filter("vpc-id", &[&vpc_id])).send().await.expect("DescribeSubnets");
    let zones: Vec<_> = subnets.subnets().iter().filter_map(|s| s.availability_zone()).collect();
    assert_eq!(zones, ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c", "ap-northeast-2d"]);
    let cidrs: Vec<_> = subnets.subnets().iter().filter_map(|s| s.cidr_block()).collect();
    assert_eq!(cidrs, ["172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20", "172.31.48.0/20"]);
    assert!(subnets.subnets().iter().all(|s| s.default_for_az() == Some(true)));
    let in_c =
        ec2.describe_subnets().filters(filter("availability-zone", &["ap-northeast-2c"])).send().await.expect("filter");
    let subnet = in_c.subnets()[0].subnet_id().expect("subnet id").to_string();

    let run = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .min_count(2)
        .max_count(2)
        .subnet_id(&subnet)
        .send()
        .await
        .expect("RunInstances");
    assert_eq!(run.instances().len(), 2);
    for i in run.instances() {
        assert_eq!(i.placement().and_then(|p| p.availability_zone()), Some("ap-northeast-2c"));
        assert_eq!(i.subnet_id(), Some(subnet.as_str()));
        assert_eq!(i.vpc_id(), Some(vpc_id.as_str()));
        assert!(i.private_ip_address().unwrap_or_default().starts_with("172.31.32."), "{:?}", i.private_ip_address());
    }
    let described = ec2
        .describe_instances()
        .filters(filter("availability-zone", &["ap-northeast-2c"]))
        .send()
        .await
        .expect("DescribeInstances");
    assert_eq!(described.reservations().len(), 1, "one launch, one reservation");
    assert_eq!(described.reservations()[0].instances().len(), 2);

    let seen = error_seen(
        ec2.run_instances()
            .image_id("ami-0123456789abcdef0")
            .min_count(1)
            .max_count(1)
            .subnet_id("subnet-0123456789abcdef0")
            .send()
            .await
            .expect_err("no subnet"),
    );
    assert_eq!(seen.code, "InvalidSubnetID.NotFound");
    let seen = error_seen(ec2.describe_vpcs().vpc_ids("vpc-0123456789abcdef0").send().await.expect_err("no vpc"));
    assert_eq!(seen.code, "InvalidVpcID.NotFound");
}

/// The image catalogue as Terraform's `aws_ami` data source queries it, and launching from it.
pub async fn images_catalogue_and_launch(endpoint: String) {
    let ec2 = ec2(&endpoint, "us-west-1");
    let al = ec2
        .describe_images()
        .owners("amazon")
        .filters(filter("name", &["al2023-ami-2023.*-x86_64"]))
        .filters(filter("architecture", &["x86_64"]))
        .send()
        .await
        .expect("DescribeImages");
    assert_eq!(al.images().len(), 1);
    let image = &al.images()[0];
    assert_eq!((image.image_owner_alias(), image.root_device_name()), (Some("amazon"), Some("/dev/xvda")));
    let ubuntu = ec2.describe_images().owners("099720109477").send().await.expect("Canonical");
    let ubuntu = &ubuntu.images()[0];
    let ubuntu_id = ubuntu.image_id().expect("id").to_string();
    assert_eq!(ubuntu.root_device_name(), Some("/dev/sda1"));
    let again = ec2.describe_images().image_ids(&ubuntu_id).send().await.expect("by id");
    assert_eq!(again.images()[0].name(), ubuntu.name(), "ids are stable");

    let run = ec2.run_instances().image_id(&ubuntu_id).min_count(1).max_count(1).send().await.expect("RunInstances");
    let instance = &run.instances()[0];
    assert_eq!(instance.root_device_name(), Some("/dev/sda1"));
    assert_eq!(instance.block_device_mappings()[0].device_name(), Some("/dev/sda1"));

    let seen = error_seen(ec2.describe_images().image_ids("ami-0123456789abcdef0").send().await.expect_err("unknown"));
    assert_eq!(seen.code, "InvalidAMIID.NotFound");
    let seen = error_seen(ec2.describe_images().image_ids("ami-nope").send().await.expect_err("malformed"));
    assert_eq!(seen.code, "InvalidAMIID.Malformed");
}

/// Security groups as Terraform drives them: create, authorize, describe, revoke, delete.
pub async fn security_groups_and_rules(endpoint: String) {
    use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
    let ec2 = ec2(&endpoint, "eu-south-1");
    let default = ec2.describe_security_groups().group_names("default").send().await.expect("default group");
    let default_id = default.security_groups()[0].group_id().expect("id").to_string();
    let created = ec2
        .create_security_group()
        .group_name("web")
        .description("web tier")
        .send()
        .await
        .expect("CreateSecurityGroup");
    let web = created.group_id().expect("id").to_string();
    assert!(web.starts_with("sg-"));
    let dup = error_seen(
        ec2.create_security_group().group_name("web").description("again").send().await.expect_err("duplicate"),
    );
    assert_eq!(dup.code, "InvalidGroup.Duplicate");

    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(&default_id).build())
        .build();
    let added = ec2
        .authorize_security_group_ingress()
        .group_id(&web)
        .ip_permissions(https.clone())
        .send()
        .await
        .expect("Authorize");
    assert_eq!(added.security_group_rules().len(), 2);
    let seen = error_seen(
        ec2.authorize_security_group_ingress()
            .group_id(&web)
            .ip_permissions(https.clone())
            .send()
            .await
            .expect_err("dup rule"),
    );
    assert_eq!(seen.code, "InvalidPermission.Duplicate");

    let shown = ec2.describe_security_groups().group_ids(&web).send().await.expect("DescribeSecurityGroups");
    let g = &shown.security_groups()[0];
    assert_eq!((g.group_name(), g.description()), (Some("web"), Some("web tier")));
    let ingress = &g.ip_permissions()[0];
    assert_eq!((ingress.ip_protocol(), ingress.from_port(), ingress.to_port()), (Some("tcp"), Some(443), Some(443)));
    assert_eq!(ingress.ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
    assert_eq!(ingress.user_id_group_pairs()[0].group_id(), Some(default_id.as_str()));
    assert_eq!(g.ip_permissions_egress()[0].ip_protocol(), Some("-1"), "new groups allow all egress");

    let rules = ec2.describe_security_group_rules().filters(filter("group-id", &[&web])).send().await.expect("rules");
    assert_eq!(rules.security_group_rules().len(), 3);
    let seen = error_seen(ec2.delete_security_group().group_id(&default_id).send().await.expect_err("default"));
    assert_eq!(seen.code, "CannotDelete");
    ec2.revoke_security_group_ingress().group_id(&web).ip_permissions(https).send().await.expect("Revoke");
    let after = ec2.describe_security_groups().group_ids(&web).send().await.expect("describe");
    assert!(after.security_groups()[0].ip_permissions().is_empty());
    ec2.delete_security_group().group_id(&web).send().await.expect("DeleteSecurityGroup");
    let seen = error_seen(ec2.describe_security_groups().group_ids(&web).send().await.expect_err("deleted"));
    assert_eq!(seen.code, "InvalidGroup.NotFound");
}

pub async fn instance_types_reboot_and_console(endpoint: String) {
    use aws_sdk_ec2::types::{ArchitectureType, InstanceType};
    let ec2 = ec2(&endpoint, "me-central-1");
    let types = ec2
        .describe_instance_types()
        .instance_types(InstanceType::T3Micro)
        .send()
        .await
        .expect("DescribeInstanceTypes");
    let t = &types.instance_types()[0];
    assert_eq!(t.v_cpu_info().and_then(|v| v.default_v_cpus()), Some(2));
    assert_eq!(t.memory_info().and_then(|m| m.size_in_mib()), Some(1024));
    let arm = ec2
        .describe_instance_types()
        .filters(filter("processor-info.supported-architecture", &["arm64"]))
        .send()
        .await
        .expect("filter");
    assert!(!arm.instance_types().is_empty());
    assert!(arm
        .instance_types()
        .iter()
        .all(|t| t.processor_info().map(|p| p.supported_architectures().contains(&ArchitectureType::Arm64))
            == Some(true)));

    let run =
        ec2.run_instances().image_id("ami-0123456789abcdef0").min_count(1).max_count(1).send().await.expect("run");
    let id = run.instances()[0].instance_id().expect("id").to_string();
    ec2.reboot_instances().instance_ids(&id).send().await.expect("RebootInstances");
    let console = ec2.get_console_output().instance_id(&id).send().await.expect("GetConsoleOutput");
    assert_eq!(console.instance_id(), Some(id.as_str()));
    let seen =
        error_seen(ec2.get_console_output().instance_id("i-0123456789abcdef0").send().await.expect_err("missing"));
    assert_eq!(seen.code, "InvalidInstanceID.NotFound");
}
