//! FIS as an SDK user drives it: an experiment template of two actions chained by startAfter,
//! an experiment that pauses a volume's I/O and is stopped mid-way, with the effect visible in
//! DescribeVolumeStatus while it runs and gone after; AWS's error codes for a bad template and
//! an unknown experiment.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_fis::types::{
    CreateExperimentTemplateActionInput, CreateExperimentTemplateStopConditionInput,
    CreateExperimentTemplateTargetInput, ExperimentActionStatus, ExperimentStatus,
};

use crate::{ec2, error_seen, fis, wait_for};

const WAIT: Duration = Duration::from_secs(60);

async fn volume_status(ec2: &aws_sdk_ec2::Client, volume: &str) -> String {
    let out = ec2.describe_volume_status().volume_ids(volume).send().await.expect("DescribeVolumeStatus");
    let status = out.volume_statuses()[0].volume_status().and_then(|s| s.status());
    status.map(|s| s.as_str().to_string()).unwrap_or_default()
}

pub async fn fis_experiment_pauses_a_volume_until_stopped(endpoint: String) {
    let client = fis(&endpoint, "us-east-1");
    let ec2 = ec2(&endpoint, "us-east-1");
    let made = ec2.create_volume().availability_zone("us-east-1b").size(1).send().await.expect("CreateVolume");
    let volume = made.volume_id().expect("id").to_string();
    wait_for("volume available", WAIT, async || volume_status(&ec2, &volume).await == "ok").await;

    let role = "arn:aws:iam::000000000000:role/fis";
    let stop_none = CreateExperimentTemplateStopConditionInput::builder().source("none").build().expect("condition");
    let target = CreateExperimentTemplateTargetInput::builder()
        .resource_type("aws:ec2:ebs-volume")
        .resource_arns(format!("arn:aws:ec2:us-east-1:000000000000:volume/{volume}"))
        .selection_mode("ALL")
        .build()
        .expect("target");
    let wait = CreateExperimentTemplateActionInput::builder()
        .action_id("aws:fis:wait")
        .parameters("duration", "PT1S")
        .build()
        .expect("action");
    let pause = CreateExperimentTemplateActionInput::builder()
        .action_id("aws:ebs:pause-volume-io")
        .parameters("duration", "PT10M")
        .targets("Volumes", "the-volume")
        .start_after("warm-up")
        .build()
        .expect("action");
    let template = client
        .create_experiment_template()
        .description("pause one volume after a warm-up")
        .role_arn(role)
        .stop_conditions(stop_none.clone())
        .targets("the-volume", target)
        .actions("warm-up", wait.clone())
        .actions("pause", pause)
        .send()
        .await
        .expect("CreateExperimentTemplate");
    let template_id = template.experiment_template().and_then(|t| t.id()).expect("id").to_string();

    let started = client.start_experiment().experiment_template_id(&template_id).send().await.expect("StartExperiment");
    let id = started.experiment().and_then(|e| e.id()).expect("id").to_string();
    let action_status = async |name: &str| {
        let e = client.get_experiment().id(&id).send().await.expect("GetExperiment");
        let actions: HashMap<String, _> = e.experiment().and_then(|e| e.actions()).cloned().unwrap_or_default();
        actions.get(name).and_then(|a| a.state()).and_then(|s| s.status()).cloned()
    };
    wait_for("the pause to start after the warm-up", WAIT, async || {
        action_status("pause").await == Some(ExperimentActionStatus::Running)
    })
    .await;
    assert_eq!(action_status("warm-up").await, Some(ExperimentActionStatus::Completed));
    wait_for("the volume impaired", WAIT, async || volume_status(&ec2, &volume).await == "impaired").await;

    client.stop_experiment().id(&id).send().await.expect("StopExperiment");
    let e = client.get_experiment().id(&id).send().await.expect("GetExperiment");
    let state = e.experiment().and_then(|e| e.state()).and_then(|s| s.status()).cloned();
    assert_eq!(state, Some(ExperimentStatus::Stopped));
    assert_eq!(action_status("pause").await, Some(ExperimentActionStatus::Stopped));
    assert_eq!(volume_status(&ec2, &volume).await, "ok", "StopExperiment undoes the pause");

    // A template naming an action squall does not know, and an experiment that does not exist.
    let bad = CreateExperimentTemplateActionInput::builder().action_id("aws:ec2:melt").build().expect("action");
    let err = client
        .create_experiment_template()
        .description("bad")
        .role_arn(role)
        .stop_conditions(stop_none)
        .actions("melt", bad)
        .send()
        .await
        .expect_err("unknown action");
    let seen = error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (400, "ValidationException"));
    assert!(seen.message.contains("aws:ec2:melt"), "{}", seen.message);
    let err = client.get_experiment().id("EXPnope").send().await.expect_err("unknown experiment");
    let seen = error_seen(err);
    assert_eq!((seen.status, seen.code.as_str()), (404, "ResourceNotFoundException"));
}
