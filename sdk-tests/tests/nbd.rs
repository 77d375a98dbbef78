//! The block data path with real clients: qemu-io, nbdinfo and nbdcopy (Debian `qemu-utils`,
//! `libnbd-bin`) on attached volumes; bytes written over NBD that survive a snapshot restored in
//! another zone; and a partitioned secondary that holds I/O until the volume re-mirrors, without
//! losing an acknowledged write. Tools that are missing skip loudly, except under `CI=true`.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{InstanceStateName, VolumeState};
use squall::config::ServeOptions;
use squall::control::faults::FaultKind;
use squall::nbd::client::{self, Client};
use squall_sdk_tests::{ebs, ec2, wait_for};

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {tool} is not installed");
        eprintln!("\n*** SKIPPED part of this test: {tool} is not installed ***\n");
    }
    found
}

async fn start() -> squall::RunningServer {
    let options = ServeOptions { lifecycle_delay_ms: 20, ..ServeOptions::ephemeral() };
    squall::start(&options).await.expect("squall starts")
}

/// How long the data path's transitions may take here.
const LIMIT: Duration = Duration::from_secs(60);

/// An instance in `zone` (with its root volume) and a data volume of `gib` attached to it.
async fn attached_volume(ec2: &aws_sdk_ec2::Client, zone: &str, gib: i32, snapshot: Option<&str>) -> (String, String) {
    let run = squall_sdk_tests::instance_checks::run_one_in_zone(ec2, zone).await;
    let instance = run.instance_id().expect("id").to_string();
    wait_for("instance running", LIMIT, async || {
        let d = ec2.describe_instances().instance_ids(&instance).send().await.expect("describe");
        d.reservations()[0].instances()[0].state().and_then(|s| s.name()) == Some(&InstanceStateName::Running)
    })
    .await;
    let created = ec2.create_volume().availability_zone(zone).size(gib).set_snapshot_id(snapshot.map(str::to_string));
    let volume = created.send().await.expect("CreateVolume").volume_id().expect("id").to_string();
    let state = async |want: VolumeState| {
        let d = ec2.describe_volumes().volume_ids(&volume).send().await.expect("describe");
        d.volumes()[0].state() == Some(&want)
    };
    wait_for("volume available", LIMIT, async || state(VolumeState::Available).await).await;
    ec2.attach_volume().volume_id(&volume).instance_id(&instance).device("/dev/sdf").send().await.expect("attach");
    wait_for("volume in use", LIMIT, async || state(VolumeState::InUse).await).await;
    (instance, volume)
}

fn nbd_uri(server: &squall::RunningServer, volume: &str) -> String {
    format!("nbd://127.0.0.1:{}/{volume}", server.nbd_addr.expect("NBD listens").port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_read_and_write_attached_volumes() {
    let server = start().await;
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let (instance, volume) = attached_volume(&ec2, "us-east-1a", 1, None).await;
    let spare = ec2.create_volume().availability_zone("us-east-1a").size(1).send().await.expect("create");
    let spare = spare.volume_id().expect("id").to_string();
    let root = ec2
        .describe_volumes()
        .filters(aws_sdk_ec2::types::Filter::builder().name("attachment.device").values("/dev/xvda").build())
        .send()
        .await
        .expect("describe")
        .volumes()[0]
        .volume_id()
        .expect("id")
        .to_string();

    // NBD_OPT_LIST names exactly the attached volumes: the root and the data volume.
    let mut listed = client::list(server.nbd_addr.expect("NBD listens")).await.expect("list");
    listed.sort();
    let mut attached = vec![root.clone(), volume.clone()];
    attached.sort();
    assert_eq!(listed, attached, "the unattached {spare} is not exported");

    if have("nbdinfo") {
        let out = Command::new("nbdinfo")
            .args(["--list", "--json", &format!("nbd://127.0.0.1:{}", server.nbd_addr.expect("NBD listens").port())])
            .output()
            .expect("nbdinfo runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let mut names: Vec<String> = json["exports"]
            .as_array()
            .expect("exports")
            .iter()
            .map(|e| e["export-name"].as_str().expect("name").to_string())
            .collect();
        names.sort();
        assert_eq!(names, attached);
        let data = json["exports"].as_array().expect("exports").iter().find(|e| e["export-name"] == volume.as_str());
        let data = data.expect("the data volume");
        assert_eq!(data["export-size"], 1u64 << 30);
        assert_eq!(data["block_size_minimum"], 512);
        assert_eq!(data["block_size_preferred"], 4096);
        assert_eq!(data["can_flush"], true);
        assert_eq!(data["can_fua"], true);
        assert_eq!(data["can_multi_conn"], true);
        let refused = Command::new("nbdinfo").arg(nbd_uri(&server, &spare)).output().expect("nbdinfo runs");
        assert!(!refused.status.success(), "an unattached volume is not exported");
    }

    if have("qemu-io") {
        let out = Command::new("qemu-io")
            .args(["-f", "raw", "-c", "write -P 0xa5 1M 64k", "-c", "read -P 0xa5 1M 64k", "-c", "read -P 0 0 4k"])
            .arg(nbd_uri(&server, &volume))
            .output()
            .expect("qemu-io runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(!text.contains("Pattern verification failed"), "{text}");
        assert!(text.contains("wrote 65536/65536 bytes at offset 1048576"), "{text}");
        assert!(text.contains("read 65536/65536 bytes at offset 1048576"), "{text}");
    }

    if have("nbdcopy") {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in");
        let output = dir.path().join("out");
        let mut bytes = vec![0u8; 256 << 20];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for chunk in bytes.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(&input, &bytes).expect("write input");
        let uri = nbd_uri(&server, &volume);
        let status = Command::new("nbdcopy").arg(&input).arg(&uri).status().expect("nbdcopy runs");
        assert!(status.success(), "nbdcopy in");
        let status = Command::new("nbdcopy").arg(&uri).arg(&output).status().expect("nbdcopy runs");
        assert!(status.success(), "nbdcopy out");
        let back = std::fs::read(&output).expect("read output");
        assert_eq!(back.len(), 1 << 30, "the whole volume comes back");
        assert!(back[..256 << 20] == bytes[..], "256 MiB came back byte for byte");
        assert!(back[256 << 20..].iter().all(|b| *b == 0), "the rest is zeros");
    }

    // Detaching ends the export: new sessions are refused, the list shrinks.
    let mut session = Client::connect(server.nbd_addr.expect("NBD listens"), &volume).await.expect("connect");
    assert_eq!(session.read(0, 512).await.expect("read").map(|d| d.len()), Ok(512));
    ec2.detach_volume().volume_id(&volume).send().await.expect("detach");
    wait_for("the session to end", LIMIT, async || session.read(0, 512).await.is_err()).await;
    let err =
        Client::connect(server.nbd_addr.expect("NBD listens"), &volume).await.err().expect("refused once detached");
    assert!(err.to_string().contains("only attached (in-use) volumes are exported"), "{err}");
    assert_eq!(client::list(server.nbd_addr.expect("NBD listens")).await.expect("list"), vec![root]);
    let _ = instance;
    server.shutdown().await;
}

/// Bytes written through NBD are in a snapshot of the volume, restore in another zone, and read
/// back through NBD there; `GetSnapshotBlock` returns the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_written_over_nbd_survive_a_snapshot_restored_in_another_zone() {
    let server = start().await;
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let ebs = ebs(&server.endpoint_url(), "us-east-1");
    let (_, volume) = attached_volume(&ec2, "us-east-1a", 2, None).await;
    let pattern: Vec<u8> = (0..512 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut c = Client::connect(server.nbd_addr.expect("NBD listens"), &volume).await.expect("connect");
    assert_eq!(c.write(0, b"squall").await.expect("write"), Ok(vec![]));
    assert_eq!(c.write(10 * 512 * 1024, &pattern).await.expect("write"), Ok(vec![]));
    assert_eq!(c.flush().await.expect("flush"), Ok(vec![]));
    c.disconnect().await.expect("disconnect");

    let snap = ec2.create_snapshot().volume_id(&volume).send().await.expect("CreateSnapshot");
    let snap = snap.snapshot_id().expect("id").to_string();
    wait_for("snapshot completed", LIMIT, async || {
        let d = ec2.describe_snapshots().snapshot_ids(&snap).send().await.expect("describe");
        d.snapshots()[0].state() == Some(&aws_sdk_ec2::types::SnapshotState::Completed)
    })
    .await;
    let blocks = ebs.list_snapshot_blocks().snapshot_id(&snap).send().await.expect("ListSnapshotBlocks");
    let indices: Vec<i32> = blocks.blocks().iter().filter_map(|b| b.block_index()).collect();
    assert_eq!(indices, [0, 10]);
    let token = blocks.blocks()[1].block_token().expect("token");
    let got = ebs.get_snapshot_block().snapshot_id(&snap).block_index(10).block_token(token).send().await;
    let got = got.expect("GetSnapshotBlock").block_data.collect().await.expect("body").into_bytes();
    assert!(got.as_ref() == pattern.as_slice(), "GetSnapshotBlock returns the bytes written over NBD");

    let (_, restored) = attached_volume(&ec2, "us-east-1c", 2, Some(&snap)).await;
    let mut c = Client::connect(server.nbd_addr.expect("NBD listens"), &restored)
        .await
        .expect("connect to the restored volume");
    assert_eq!(c.size, 2 << 30);
    assert_eq!(c.read(0, 6).await.expect("read"), Ok(b"squall".to_vec()));
    assert_eq!(c.read(10 * 512 * 1024, 512 * 1024).await.expect("read"), Ok(pattern));
    server.shutdown().await;
}

/// While a client writes, the volume's secondary is cut off on both networks: I/O hangs (held,
/// visible in `/_squall/nbd` and as `impaired` in DescribeVolumeStatus), the volume re-mirrors to
/// another node, I/O resumes by itself, and every acknowledged write reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_secondary_holds_io_until_the_volume_remirrors() {
    let server = start().await;
    let ec2 = ec2(&server.endpoint_url(), "us-east-1");
    let (_, volume) = attached_volume(&ec2, "us-east-1a", 1, None).await;
    let control = server.control.clone();
    let region = control.region(&squall::control::RegionName::parse("us-east-1").expect("region"));
    let vid = squall::control::VolumeId::parse(&volume).expect("id");
    let record = |region: &squall::control::Region| {
        region.read(control.now_ms(), |state| state.volume_replicas(&vid)).expect("the volume's replicas")
    };
    let before = record(&region);

    // The writer: 64 KiB writes at consecutive offsets, each with its own pattern.
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let addr = server.nbd_addr.expect("NBD listens");
    let vol = volume.clone();
    let writer = tokio::spawn(async move {
        let mut c = Client::connect(addr, &vol).await.expect("connect");
        let mut n = 0u64;
        loop {
            if stop_rx.try_recv().is_ok() {
                break;
            }
            let data = vec![(n % 251) as u8 + 1; 65536];
            assert_eq!(c.write(n * 65536, &data).await.expect("write"), Ok(vec![]), "write {n}");
            let _ = ack_tx.send(n);
            n += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        c.flush().await.expect("flush").expect("flushed");
        n
    });
    let mut acked = 0;
    while acked < 20 {
        acked = ack_rx.recv().await.expect("acks") + 1;
    }
    let zone = region.read(control.now_ms(), |state| Ok(state.volume(&vid)?.zone.clone())).expect("zone");
    let partition = FaultKind::NetworkPartition {
        zone,
        nodes: vec![before.secondary],
        networks: vec!["primary".into(), "replication".into()],
    };
    let fault = control.install_fault(region.name(), partition, None).expect("partition");
    let partitioned = Instant::now();

    wait_for("a held write", LIMIT, async || server.nbd.stats().get(&volume).is_some_and(|s| s.held > 0)).await;
    let status = ec2.describe_volume_status().volume_ids(&volume).send().await.expect("DescribeVolumeStatus");
    let info = status.volume_statuses()[0].volume_status().expect("status");
    assert_eq!(info.status(), Some(&aws_sdk_ec2::types::VolumeStatusInfoStatus::Impaired));
    while ack_rx.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ack_rx.try_recv().is_err(), "no write is acknowledged while the volume is stuck");

    // The hardened policy waits out its grace period, then re-mirrors to a healthy node.
    let resumed =
        tokio::time::timeout(Duration::from_secs(60), ack_rx.recv()).await.expect("I/O resumes").expect("ack");
    eprintln!("I/O held for {:?} after the partition (write {resumed} completed)", partitioned.elapsed());
    let after = record(&region);
    assert!(after.epoch > before.epoch, "a new replica set: {before:?} → {after:?}");
    assert_ne!(after.secondary, before.secondary, "the cut-off node is no longer a replica");
    assert!(!after.stuck);
    assert_eq!(server.nbd.stats()[&volume].held, 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_tx.send(()).expect("stop");
    let written = writer.await.expect("writer");
    control.remove_fault(&fault.id).expect("heal");

    let mut c = Client::connect(server.nbd_addr.expect("NBD listens"), &volume).await.expect("connect");
    for n in 0..written {
        let got = c.read(n * 65536, 65536).await.expect("read").expect("read ok");
        assert!(got.iter().all(|b| *b == (n % 251) as u8 + 1), "acknowledged write {n} is intact");
    }
    eprintln!("{written} acknowledged writes read back");
    server.shutdown().await;
}
