//! Several unknown instance ids in one request are all named in one error, as AWS names them
//! ("The instance IDs 'i-a, i-b' do not exist"); one unknown id keeps the singular message; and
//! a request that names a known instance beside unknown ones changes nothing.

use squall_control::{ControlConfig, ControlPlane, RegionName};
use squall_protocol::{QueryParams, RequestContext};

fn call(control: &ControlPlane, body: &str) -> (u16, String) {
    let ctx = RequestContext::new("req".into(), "us-east-1".into(), None);
    let r = squall_ec2::handle(control, &ctx, &QueryParams::parse(b"", body.as_bytes()));
    (r.status, String::from_utf8(r.body).expect("utf-8"))
}

fn message(body: &str) -> &str {
    body.split("<Message>").nth(1).and_then(|m| m.split("</Message>").next()).expect("a message")
}

#[test]
fn every_unknown_instance_id_is_named_once_in_request_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = ControlPlane::new(ControlConfig::new(
        RegionName::parse("us-east-1").expect("region"),
        dir.path().to_path_buf(),
    ));
    let (_, launched) = call(
        &control,
        "Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1&MaxCount=1\
         &Placement.AvailabilityZone=us-east-1a",
    );
    let known = launched.split("<instanceId>").nth(1).and_then(|s| s.split('<').next()).expect("an instance");
    let (a, b) = ("i-0123456789abcdef0", "i-0123456789abcdef1");
    for action in ["DescribeInstances", "StopInstances", "StartInstances", "RebootInstances", "TerminateInstances"] {
        let body = format!(
            "Action={action}&Version=2016-11-15&InstanceId.1={a}&InstanceId.2={known}&InstanceId.3={b}&InstanceId.4={a}"
        );
        let (status, answer) = call(&control, &body);
        assert_eq!(status, 400, "{action}: {answer}");
        assert!(answer.contains("<Code>InvalidInstanceID.NotFound</Code>"), "{action}: {answer}");
        assert_eq!(message(&answer), format!("The instance IDs &apos;{a}, {b}&apos; do not exist"), "{action}");
        let (status, answer) = call(&control, &format!("Action={action}&Version=2016-11-15&InstanceId.1={b}"));
        assert_eq!(status, 400, "{action}: {answer}");
        assert_eq!(message(&answer), format!("The instance ID &apos;{b}&apos; does not exist"), "{action}");
    }
    // None of those requests touched the known instance: it is still pending or running.
    let (_, described) = call(&control, &format!("Action=DescribeInstances&Version=2016-11-15&InstanceId.1={known}"));
    assert!(described.contains("<name>pending</name>") || described.contains("<name>running</name>"), "{described}");
}
