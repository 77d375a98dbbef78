//! The region's metadata on disk: a region written by squall's first format (`ebs.json`) opens
//! with everything in it; what a command commits is there after a restart; a database from a
//! later squall is refused. (That a failed command leaves nothing behind is tested inside the
//! crate, in `state.rs`, where a failure can be injected into a command.)

#![allow(clippy::unwrap_used)] // test helpers, like the tests themselves, may unwrap

use std::path::Path;

use squall_control::model::volume::VolumeState;
use squall_control::{ControlConfig, ControlPlane, InstanceId, RegionName, SnapshotId, VolumeId};

fn control(dir: &Path) -> ControlPlane {
    ControlPlane::new(ControlConfig::new(RegionName::parse("us-east-1").unwrap(), dir.to_path_buf()))
}

fn us_east_1() -> RegionName {
    RegionName::parse("us-east-1").unwrap()
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
        .read(now, |state| {
            let data = state.volume(&VolumeId::parse("vol-4ba33d830beb1292f").unwrap())?;
            assert_eq!(data.size_gib, 2);
            assert_eq!(data.state, VolumeState::Available);
            assert_eq!(data.tags.get("Name").map(String::as_str), Some("legacy-data"));
            let root = state.volume(&VolumeId::parse("vol-05079a23838771749").unwrap())?;
            assert_eq!(root.state, VolumeState::InUse);
            assert_eq!(root.attachments[0].instance, "i-1ba7914371545b18a");
            let snap = state.snapshot(&SnapshotId::parse("snap-13f633ad1c9ab358a").unwrap())?;
            assert_eq!(snap.description, "before-upgrade");
            let i = state.instance(&InstanceId::parse("i-1ba7914371545b18a").unwrap())?;
            assert_eq!(i.tags.get("role").map(String::as_str), Some("web"));
            assert_eq!(i.zone, "us-east-1b");
            assert!(state.vpcs().iter().any(|v| v.id == "vpc-15c6cea4968a7e440" && v.cidr == "10.1.0.0/16"));
            assert!(state.vpcs().iter().any(|v| v.is_default));
            assert!(state.key_pairs().iter().any(|k| k.name == "legacy-key"));
            Ok(())
        })
        .unwrap();
    assert!(!region_dir.join("ebs.json").exists());
    assert!(region_dir.join("ebs.json.imported").exists());
    drop(region);
    drop(c);
    // Opened again: from the database, not from the file.
    let c = control(dir.path());
    let count = c.region(&us_east_1()).read(c.now_ms(), |state| Ok(state.volumes_after(None, 100, |_| true).0.len()));
    assert_eq!(count.unwrap(), 2);
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
    let err = c.region(&us_east_1()).read(c.now_ms(), |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("schema version 99 is newer"), "{err}");
}
