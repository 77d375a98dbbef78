//! DescribeVolumeStatus driven by the storage cluster, on a manual clock: a volume whose primary
//! storage node dies is `impaired` / `stalled` while it re-mirrors, then — having failed over to
//! its other replica — has its I/O disabled with a `potential-data-inconsistency` event until
//! `EnableVolumeIO` (or at once, with `autoEnableIO`).

use std::sync::Arc;
use std::time::Duration;

use squall_control::faults::FaultKind;
use squall_control::{ControlConfig, ControlPlane, ManualClock, RegionName, VolumeId};
use squall_protocol::{QueryParams, RequestContext};

struct Harness {
    control: ControlPlane,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new();
        let mut config = ControlConfig::new(RegionName::parse("us-east-1").expect("region"), dir.path().to_path_buf());
        config.clock = Arc::new(clock.clone());
        config.seed = 7;
        Self { control: ControlPlane::new(config), clock, _dir: dir }
    }

    fn call(&self, body: &str) -> (u16, String) {
        let ctx = RequestContext::new("req".into(), "us-east-1".into(), None);
        let r = squall_ec2::handle(&self.control, &ctx, &QueryParams::parse(b"", body.as_bytes()));
        (r.status, String::from_utf8(r.body).expect("utf-8"))
    }

    fn advance(&self, total: Duration) {
        let step = Duration::from_millis(100);
        let mut t = Duration::ZERO;
        while t < total {
            self.clock.advance(step);
            self.control.tick().expect("tick");
            t += step;
        }
    }

    fn create_volume(&self, zone: &str) -> VolumeId {
        let (status, body) =
            self.call(&format!("Action=CreateVolume&Version=2016-11-15&AvailabilityZone={zone}&Size=4&VolumeType=gp3"));
        assert_eq!(status, 200, "{body}");
        let id = body.split("<volumeId>").nth(1).and_then(|s| s.split('<').next()).expect("volume id");
        VolumeId::parse(id).expect("id")
    }

    fn status(&self, v: &VolumeId) -> String {
        let (status, body) = self.call(&format!("Action=DescribeVolumeStatus&Version=2016-11-15&VolumeId.1={v}"));
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Crashes the storage node holding the volume's primary replica (a node-crash fault).
    fn crash_primary(&self, v: &VolumeId) {
        let us_east_1 = RegionName::parse("us-east-1").expect("region");
        let region = self.control.region(&us_east_1);
        let (zone, primary) = region
            .read(self.control.now_ms(), |state| Ok((state.volume(v)?.zone.clone(), state.volume_replicas(v)?.primary)))
            .expect("placement");
        self.control
            .install_fault(&us_east_1, FaultKind::NodeCrash { zone, nodes: vec![primary] }, None)
            .expect("crash");
    }
}

#[test]
fn a_failover_disables_io_until_enable_volume_io() {
    let h = Harness::new();
    let v = h.create_volume("us-east-1a");
    h.advance(Duration::from_secs(1));
    let ok = h.status(&v);
    assert!(ok.contains("<status>ok</status>"), "{ok}");
    assert!(ok.contains("<name>io-performance</name><status>normal</status>"), "{ok}");

    h.crash_primary(&v);
    h.advance(Duration::from_millis(200));
    let stuck = h.status(&v);
    assert!(stuck.contains("<status>impaired</status>"), "{stuck}");
    assert!(stuck.contains("<name>io-performance</name><status>stalled</status>"), "{stuck}");

    // The hardened policy waits 5 s for the lost node, then re-mirrors from the secondary.
    h.advance(Duration::from_secs(10));
    let disabled = h.status(&v);
    assert!(disabled.contains("<status>impaired</status>"), "{disabled}");
    assert!(disabled.contains("<name>io-enabled</name><status>failed</status>"), "{disabled}");
    assert!(disabled.contains("<eventType>potential-data-inconsistency</eventType>"), "{disabled}");
    assert!(disabled.contains("<description>Awaiting Action: Enable IO</description>"), "{disabled}");
    assert!(disabled.contains("<code>enable-volume-io</code>"), "{disabled}");

    let (status, body) = h.call(&format!("Action=EnableVolumeIO&Version=2016-11-15&VolumeId={v}"));
    assert_eq!(status, 200, "{body}");
    let enabled = h.status(&v);
    assert!(enabled.contains("<status>ok</status></volumeStatus>"), "{enabled}");
    assert!(enabled.contains("<description>IO Enabled</description>"), "{enabled}");
    assert!(enabled.contains("<notAfter>"), "{enabled}");
    assert!(enabled.contains("<actionsSet/>"), "{enabled}");
}

#[test]
fn auto_enable_io_re_enables_at_once() {
    let h = Harness::new();
    let v = h.create_volume("us-east-1b");
    let (status, body) =
        h.call(&format!("Action=ModifyVolumeAttribute&Version=2016-11-15&VolumeId={v}&AutoEnableIO.Value=true"));
    assert_eq!(status, 200, "{body}");
    h.advance(Duration::from_secs(1));
    h.crash_primary(&v);
    h.advance(Duration::from_secs(11));
    let after = h.status(&v);
    assert!(after.contains("<status>ok</status></volumeStatus>"), "{after}");
    assert!(after.contains("<description>IO Auto-Enabled</description>"), "{after}");
    assert!(after.contains("<name>io-enabled</name><status>passed</status>"), "{after}");
}

#[test]
fn an_instance_is_impaired_while_its_root_volume_is_stuck() {
    let h = Harness::new();
    let (status, body) = h.call("Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1&Placement.AvailabilityZone=us-east-1c");
    assert_eq!(status, 200, "{body}");
    let instance =
        body.split("<instanceId>").nth(1).and_then(|s| s.split('<').next()).expect("instance id").to_string();
    let root = body.split("<volumeId>").nth(1).and_then(|s| s.split('<').next()).expect("root volume").to_string();
    let describe = || h.call(&format!("Action=DescribeInstanceStatus&Version=2016-11-15&InstanceId.1={instance}")).1;
    assert!(
        describe().contains("<instanceStatusSet/>"),
        "a pending instance is not listed without IncludeAllInstances"
    );
    h.advance(Duration::from_secs(1));
    let ok = describe();
    assert!(ok.contains("<instanceStatus><details><item><name>reachability</name><status>passed</status>"), "{ok}");
    assert!(ok.contains("<attachedEbsStatus><details><item><name>reachability</name><status>passed</status>"), "{ok}");

    h.crash_primary(&VolumeId::parse(&root).expect("id"));
    h.advance(Duration::from_millis(200));
    let impaired = describe();
    assert!(impaired.contains("<instanceStatus><details><item><impairedSince>"), "{impaired}");
    assert!(
        impaired.contains("<status>failed</status></item></details><status>impaired</status></instanceStatus>"),
        "{impaired}"
    );
    assert!(impaired.contains("<status>impaired</status></attachedEbsStatus>"), "{impaired}");
    assert!(
        impaired.contains("<systemStatus><details><item><name>reachability</name><status>passed</status>"),
        "{impaired}"
    );
    let (_, filtered) = h.call("Action=DescribeInstanceStatus&Version=2016-11-15&Filter.1.Name=instance-status.status&Filter.1.Value.1=impaired");
    assert!(filtered.contains(&instance), "{filtered}");

    // Re-mirrored after the grace period: reachable again.
    h.advance(Duration::from_secs(10));
    let recovered = describe();
    assert!(recovered.contains("<status>ok</status></instanceStatus>"), "{recovered}");
}
