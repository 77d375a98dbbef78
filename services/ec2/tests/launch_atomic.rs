//! A RunInstances that fails part-way leaves nothing behind: its third volume does not fit in
//! the zone's storage, so the launch fails with AWS's capacity error — and neither the instance,
//! nor its first two volumes, nor their replicas in the block store remain.

use squall_control::{ControlConfig, ControlPlane, RegionName};
use squall_protocol::{QueryParams, RequestContext};

const GIB: u64 = 1 << 30;

fn call(control: &ControlPlane, body: &str) -> (u16, String) {
    let ctx = RequestContext::new("req".into(), "us-east-1".into(), None);
    let r = squall_ec2::handle(control, &ctx, &QueryParams::parse(b"", body.as_bytes()));
    (r.status, String::from_utf8(r.body).expect("utf-8"))
}

/// Volumes held by the region's storage clusters (as /_squall/status shows them).
fn stored_volumes(control: &ControlPlane) -> usize {
    control.status().values().flatten().filter_map(|z| z.storage.as_ref()).map(|s| s.volumes).sum()
}

#[test]
fn a_launch_whose_last_volume_does_not_fit_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ControlConfig::new(RegionName::parse("us-east-1").expect("region"), dir.path().to_path_buf());
    // Four 25 GiB nodes: the 8 GiB root takes two of them, the first 20 GiB volume the other
    // two, and no two nodes have 20 GiB left for the last one.
    config.cluster.node_capacity = 25 * GIB;
    let control = ControlPlane::new(config);
    let launch = "Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1\
                  &InstanceType=t3.micro&Placement.AvailabilityZone=us-east-1a\
                  &BlockDeviceMapping.1.DeviceName=/dev/sdf&BlockDeviceMapping.1.Ebs.VolumeSize=20\
                  &BlockDeviceMapping.2.DeviceName=/dev/sdg&BlockDeviceMapping.2.Ebs.VolumeSize=20";
    let (status, body) = call(&control, launch);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("<Code>InsufficientVolumeCapacity</Code>"), "{body}");
    let (_, instances) = call(&control, "Action=DescribeInstances&Version=2016-11-15");
    assert!(!instances.contains("<instanceId>"), "an instance of the failed launch remains: {instances}");
    let (_, volumes) = call(&control, "Action=DescribeVolumes&Version=2016-11-15");
    assert!(!volumes.contains("<volumeId>"), "a volume of the failed launch remains: {volumes}");
    assert_eq!(stored_volumes(&control), 0, "the block store keeps replicas of the failed launch");
    // The same launch without the volume that did not fit succeeds, with both volumes.
    let smaller =
        launch.replace("&BlockDeviceMapping.2.DeviceName=/dev/sdg&BlockDeviceMapping.2.Ebs.VolumeSize=20", "");
    let (status, body) = call(&control, &smaller);
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored_volumes(&control), 2);
}
