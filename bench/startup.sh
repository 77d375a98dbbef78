#!/usr/bin/env bash
# Start-up and idle-memory benchmark: squall (process and container) beside moto's server mode,
# in one run, printing each figure and the ratio to moto. Nothing here asserts a time.
#   bench/startup.sh [runs]      default 5 runs each; needs: cargo, docker, curl, moto (PyPI)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
port=14599

cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p squall --bin squall
"$root/docker/build.sh" squall:bench >/dev/null
squall_bin="$root/target/release/squall"

now_ms() { date +%s%3N; }
wait_healthy() { # url -> prints ms until it answers 200
  local start=$1 url=$2
  until curl -fs -o /dev/null "$url"; do sleep 0.005; done
  echo $(( $(now_ms) - start ))
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure_process() { # command..., prints "ms rss"
  local start pid ms rss
  start=$(now_ms)
  "$@" >/dev/null 2>&1 &
  pid=$!
  ms=$(wait_healthy "$start" "$health_url")
  sleep 1
  rss=$(rss_kib "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$ms $rss"
}

results() { # label, then lines "ms rss" on stdin -> "label median_ms median_rss"
  local label=$1 data; data=$(cat)
  echo "$label $(echo "$data" | cut -d' ' -f1 | median) $(echo "$data" | cut -d' ' -f2 | median)"
}

health_url="http://127.0.0.1:$port/_squall/health"
squall_proc=$(for _ in $(seq "$runs"); do measure_process "$squall_bin" --listen "127.0.0.1:$port"; done | results squall-process)

squall_ctr=$(for _ in $(seq "$runs"); do
  start=$(now_ms)
  cid=$(docker run -d --rm -p "127.0.0.1:$port:4566" squall:bench)
  ms=$(wait_healthy "$start" "$health_url")
  sleep 1
  rss=$(rss_kib "$(docker inspect --format '{{.State.Pid}}' "$cid")")
  docker rm -f "$cid" >/dev/null
  echo "$ms $rss"
done | results squall-container)

health_url="http://127.0.0.1:$port/moto-api/"
moto=$(for _ in $(seq "$runs"); do measure_process moto_server -p "$port"; done | results moto-server)

echo
printf '%-18s %14s %14s\n' "server" "to-healthy-ms" "idle-rss-KiB"
for line in "$squall_proc" "$squall_ctr" "$moto"; do printf '%-18s %14s %14s\n' $line; done
read -r _ moto_ms moto_rss <<<"$moto"
read -r _ sq_ms sq_rss <<<"$squall_proc"
read -r _ ct_ms ct_rss <<<"$squall_ctr"
echo
echo "ratio moto/squall-process start-up: $(echo "scale=1; $moto_ms / ($sq_ms + 0.5)" | bc)x   idle RSS: $(echo "scale=1; $moto_rss / $sq_rss" | bc)x"
echo "ratio moto/squall-container start-up: $(echo "scale=1; $moto_ms / ($ct_ms + 0.5)" | bc)x"
echo "squall binary: $(du -h "$squall_bin" | cut -f1) (dynamic), image squall:bench: $(docker image inspect squall:bench --format '{{.Size}}' | awk '{printf "%.2f MB", $1/1e6}')"
