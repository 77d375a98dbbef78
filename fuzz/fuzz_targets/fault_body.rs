//! The fault API's body check (`POST /_squall/faults`): any bytes as a fault body, checked
//! against a real control plane's regions and zones. Nothing may panic, and no accepted fault
//! may carry a duration past the documented maximum.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use squall_control::{ControlConfig, ControlPlane, RegionName};

fn control() -> &'static ControlPlane {
    static CONTROL: OnceLock<ControlPlane> = OnceLock::new();
    CONTROL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("squall-fuzz-faults-{}", std::process::id()));
        let region = RegionName::parse("us-east-1").expect("a region");
        ControlPlane::new(ControlConfig::new(region, dir))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok((_, _, Some(ms))) = squall_fault_api::check_fault_body(control(), "us-east-1", data) {
        assert!(ms <= 604_800_000, "duration {ms} ms past a week");
    }
});
