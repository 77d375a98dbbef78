#!/usr/bin/env bash
# squall's NBD data path beside qemu-nbd, in one run on this machine, measured with fio's nbd
# engine: sequential 1 MiB write (plain, and ending with a flush) and read at QD16, 4 KiB random
# read/write at QD32, 4 KiB write+flush at QD1. Prints each figure and the squall/qemu-nbd ratio.
#
#   bench/nbd.sh [size_mib=1024] [runtime_s=15]
#
# squall serves a volume attached to an instance (two replicas in its zone's storage cluster,
# a write acknowledged once both have it, FLUSH = fdatasync on both); qemu-nbd serves a raw
# file with --cache=none --aio=native. Both live on the same disk, under /var/tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNTIME=${2:-15}
SQ_HTTP=127.0.0.1:4577
SQ_NBD_PORT=10877
QEMU_PORT=10878
for tool in fio qemu-nbd aws python3; do
  command -v $tool >/dev/null || { echo "bench/nbd.sh needs $tool" >&2; exit 1; }
done
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "this fio has no nbd engine" >&2; exit 1; }

cargo build --release --quiet -p squall
WORK=$(mktemp -d /var/tmp/squall-nbd-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

./target/release/squall --listen $SQ_HTTP --nbd-listen 127.0.0.1:$SQ_NBD_PORT --data-dir "$WORK/squall" \
  --lifecycle-delay-ms 20 --log warn &
PIDS+=($!)
for _ in $(seq 100); do ./target/release/squall health --url http://$SQ_HTTP/_squall/health >/dev/null 2>&1 && break; sleep 0.05; done
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
ec2() { aws --endpoint-url http://$SQ_HTTP ec2 "$@"; }
GIB=$(( (SIZE_MIB + 1023) / 1024 ))
INSTANCE=$(ec2 run-instances --image-id ami-0123456789abcdef0 --placement AvailabilityZone=us-east-1a \
  --query 'Instances[0].InstanceId' --output text)
VOLUME=$(ec2 create-volume --availability-zone us-east-1a --size $GIB --volume-type gp3 --query VolumeId --output text)
ec2 wait volume-available --volume-ids "$VOLUME"
ec2 attach-volume --volume-id "$VOLUME" --instance-id "$INSTANCE" --device /dev/sdf >/dev/null
ec2 wait volume-in-use --volume-ids "$VOLUME"

fallocate -l $((GIB * 1024))M "$WORK/qemu.img"
qemu-nbd --cache=none --aio=native -f raw -x disk -b 127.0.0.1 -p $QEMU_PORT --persistent --shared=8 "$WORK/qemu.img" &
PIDS+=($!)
sleep 0.5

run() { # name uri -- fio options; prints "bw_MiBps iops"
  local uri=$2; shift 2
  fio --name=bench --ioengine=nbd --uri="$uri" --output-format=json --size=${SIZE_MIB}M "$@" >"$WORK/fio.json" \
    || { echo "fio failed on $uri" >&2; cat "$WORK/fio.json" >&2; exit 1; }
  python3 - "$WORK/fio.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
side = job["write"] if job["write"]["io_bytes"] > job["read"]["io_bytes"] else job["read"]
print("%.1f %.0f" % (side["bw_bytes"] / 2**20, side["iops"]))
PY
}

SQUALL_URI="nbd://127.0.0.1:$SQ_NBD_PORT/$VOLUME"
QEMU_URI="nbd://127.0.0.1:$QEMU_PORT/disk"
printf '%-26s %14s %14s %8s\n' "workload" "squall" "qemu-nbd" "ratio"
bench() { # label fio-options...
  local label=$1; shift
  read -r sq_bw sq_iops < <(run "$label" "$SQUALL_URI" "$@")
  read -r qe_bw qe_iops < <(run "$label" "$QEMU_URI" "$@")
  python3 -c "
sq_bw, sq_iops, qe_bw, qe_iops = $sq_bw, $sq_iops, $qe_bw, $qe_iops
label = '$label'
if 'MiB/s' in label:
    print(f'{label:<26} {sq_bw:>9.1f} MiB/s {qe_bw:>9.1f} MiB/s {sq_bw / qe_bw:>7.2f}x')
else:
    print(f'{label:<26} {sq_iops:>10.0f} IOPS {qe_iops:>10.0f} IOPS {sq_iops / qe_iops:>7.2f}x')"
}
bench "seq write 1M QD16 MiB/s" --rw=write --bs=1M --iodepth=16
# The same ending with a flush: both sides must make the bytes durable, so page-cache copies
# do not flatter either.
bench "seq write+end flush MiB/s" --rw=write --bs=1M --iodepth=16 --end_fsync=1
bench "seq read 1M QD16 MiB/s" --rw=read --bs=1M --iodepth=16
bench "rand read 4K QD32" --rw=randread --bs=4k --iodepth=32 --time_based --runtime=$RUNTIME
bench "rand write 4K QD32" --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime=$RUNTIME
bench "write+flush 4K QD1" --rw=write --bs=4k --iodepth=1 --fsync=1 --time_based --runtime=$RUNTIME
