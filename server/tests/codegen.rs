//! The checked-in wire code is exactly what the generator makes from the pinned botocore
//! models (as s3s's CI checks its generated code): nobody edits generated files by hand.
//! Needs python3 and pip (to fetch the pinned botocore wheel once into target/codegen/).

use std::process::Command;

#[test]
fn generated_wire_code_is_up_to_date() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = match Command::new("python3").arg(format!("{root}/tools/codegen/gen.py")).arg("--check").output() {
        Ok(o) => o,
        Err(e) => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but python3 cannot run: {e}");
            eprintln!("\n*** SKIPPED: python3 is not available to run the code generator: {e} ***\n");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("generated code is up to date"), "{stdout}{stderr}");
}
