//! The region's metadata on disk: a region written by squall's first format (`ebs.json`) opens
//! with everything in it; a command that fails leaves nothing behind, in memory, on disk or in
//! the block store; what a command commits is there after a restart.

#![allow(clippy::unwrap_used)] // test helpers, like the tests themselves, may unwrap

use std::collections::BTreeMap;
use std::path::Path;

use squall_control::model::volume::{VolumeSpec, VolumeState, VolumeType};
use squall_control::{
    ControlConfig, ControlError, ControlPlane, InstanceId, RegionName, SnapshotId, VolumeError, VolumeId, Zone,
};

fn control(dir: &Path) -> ControlPlane {
    ControlPlane::new(ControlConfig::new(RegionName::parse("us-east-1").unwrap(), dir.to_path_buf()))
}

fn us_east_1() -> RegionName {
    RegionName::parse("us-east-1").unwrap()
}

/// A zone of us-east-1 as the control plane names it.
fn c_zone(name: &str) -> Zone {
    let dir = tempfile::tempdir().unwrap();
    control(dir.path()).region(&us_east_1()).zone_by_name(name).unwrap()
}

fn spec(zone: &str, size: u32) -> VolumeSpec {
    VolumeSpec {
        zone: c_zone(zone).name,
        size_gib: Some(size),
        snapshot_id: None,
        volume_type: VolumeType::Gp3,
        iops: None,
        throughput: None,
        encrypted: false,
        kms_key_id: None,
        multi_attach: false,
        tags: BTreeMap::from([("Name".to_string(), format!("{zone}-{size}"))]),
        client_token: None,
    }
}

#[test]
fn a_region_written_as_ebs_json_opens_with_all_its_resources() {
    let dir = tempfile::tempdir().unwrap();
    let region_dir = dir.path().join("regions/us-east-1");
    std::fs::create_dir_all(&region_dir).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ebs-v1.json"), region_dir.join("ebs.json"))
        .unwrap();
    let c = control(dir.path());
    let region = c.region(&us_east_1());
    let now = c.now_ms();
    region
        .with_state(now, |ebs| {
            let data = ebs.volume(&VolumeId::parse("vol-4ba33d830beb1292f").unwrap())?;
            assert_eq!(data.size_gib, 2);
            assert_eq!(data.state, VolumeState::Available);
            assert_eq!(data.tags.get("Name").map(String::as_str), Some("legacy-data"));
            let root = ebs.volume(&VolumeId::parse("vol-05079a23838771749").unwrap())?;
            assert_eq!(root.state, VolumeState::InUse);
            assert_eq!(root.attachments[0].instance, "i-1ba7914371545b18a");
            let snap = ebs.snapshot(&SnapshotId::parse("snap-13f633ad1c9ab358a").unwrap())?;
            assert_eq!(snap.description, "before-upgrade");
            let i = ebs.instance(&InstanceId::parse("i-1ba7914371545b18a").unwrap())?;
            assert_eq!(i.tags.get("role").map(String::as_str), Some("web"));
            assert_eq!(i.zone, "us-east-1b");
            assert!(ebs.vpcs().iter().any(|v| v.id == "vpc-15c6cea4968a7e440" && v.cidr == "10.1.0.0/16"));
            assert!(ebs.vpcs().iter().any(|v| v.is_default));
            assert!(ebs.key_pairs().iter().any(|k| k.name == "legacy-key"));
            Ok(())
        })
        .unwrap();
    assert!(!region_dir.join("ebs.json").exists());
    assert!(region_dir.join("ebs.json.imported").exists());
    drop(region);
    drop(c);
    // Opened again: from the database, not from the file.
    let c = control(dir.path());
    let count = c.region(&us_east_1()).with_state(c.now_ms(), |ebs| Ok(ebs.volumes_after(None, 100, |_| true).0.len()));
    assert_eq!(count.unwrap(), 2);
}

#[test]
fn a_failed_command_leaves_nothing_and_a_committed_one_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = control(dir.path());
    let region = c.region(&us_east_1());
    let now = c.now_ms();
    let zone = c_zone("us-east-1a").id;
    let kept =
        region.with_state(now, |ebs| ebs.create_volume(spec("us-east-1a", 1), zone.clone(), now, false)).unwrap();
    // Two volumes made, then a failure: the command is undone whole.
    let failed = region.with_state(now, |ebs| {
        ebs.create_volume(spec("us-east-1a", 2), zone.clone(), now, false)?;
        ebs.create_volume(spec("us-east-1a", 3), zone.clone(), now, false)?;
        Err::<(), _>(ControlError::Volume(VolumeError::InsufficientVolumeCapacity { zone: "injected".into() }))
    });
    assert!(matches!(failed, Err(ControlError::Volume(VolumeError::InsufficientVolumeCapacity { .. }))));
    let (listed, stored) = region
        .with_state(now, |ebs| {
            let listed: Vec<VolumeId> = ebs.volumes_after(None, 100, |_| true).0.into_iter().map(|v| v.id).collect();
            let stored: usize = ebs.storage_status().iter().map(|s| s.volumes).sum();
            Ok((listed, stored))
        })
        .unwrap();
    assert_eq!(listed, vec![kept.id.clone()]);
    assert_eq!(stored, 1, "the failed command's volumes are gone from the block store too");
    drop(region);
    drop(c);
    let c = control(dir.path());
    let after =
        c.region(&us_east_1()).with_state(c.now_ms(), |ebs| Ok(ebs.volumes_after(None, 100, |_| true).0)).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, kept.id);
    assert_eq!(after[0].tags, kept.tags);
}

#[test]
fn a_database_from_a_newer_squall_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let region_dir = dir.path().join("regions/us-east-1");
    std::fs::create_dir_all(&region_dir).unwrap();
    let db = rusqlite::Connection::open(region_dir.join("control.sqlite")).unwrap();
    db.pragma_update(None, "user_version", 99).unwrap();
    drop(db);
    let c = control(dir.path());
    let err = c.region(&us_east_1()).with_state(c.now_ms(), |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("schema version 99 is newer"), "{err}");
}
