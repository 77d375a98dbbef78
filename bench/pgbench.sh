#!/usr/bin/env bash
# squall's RDS SQL endpoint beside a real PostgreSQL (Debian's postgresql-15, fsync on) on this
# machine, in one run, with pgbench: scale 1, 4 clients, select-only (-S) and the default
# TPC-B-like script, against a single-AZ and a Multi-AZ squall instance. Prints tps and the
# squall/PostgreSQL ratios.
#
#   bench/pgbench.sh [seconds=30] [clients=4]
#
# Needs pgbench, initdb and pg_ctl (Debian: postgresql, postgresql-client).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-30}
CLIENTS=${2:-4}
SQ_HTTP=127.0.0.1:4578
PG_PORT=54329
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
for tool in pgbench aws; do
  command -v $tool >/dev/null || { echo "bench/pgbench.sh needs $tool" >&2; exit 1; }
done
[ -x "$PG_BIN/initdb" ] || { echo "bench/pgbench.sh needs PostgreSQL's server (Debian: postgresql)" >&2; exit 1; }

cargo build --release --quiet -p squall
WORK=$(mktemp -d /var/tmp/squall-pgbench.XXXXXX)
chmod 777 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$WORK/pg" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" stop -m immediate >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL: a fresh cluster with fsync on (its default), listening on loopback only.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U bench --auth=trust >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=on" -l "$WORK/pg.log" start >/dev/null

./target/release/squall --listen $SQ_HTTP --nbd-listen 127.0.0.1:10878 --data-dir "$WORK/squall" \
  --lifecycle-delay-ms 20 --rds-ports 4580-4589 --log warn &
PIDS+=($!)
for _ in $(seq 100); do ./target/release/squall health --url http://$SQ_HTTP/_squall/health >/dev/null 2>&1 && break; sleep 0.05; done
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
rds() { aws --endpoint-url http://$SQ_HTTP rds "$@"; }
rds create-db-instance --db-instance-identifier single --engine postgres --db-instance-class db.m5.large \
  --allocated-storage 20 --master-username bench --master-user-password bench-pass --port 4581 >/dev/null
rds create-db-instance --db-instance-identifier multi --engine postgres --db-instance-class db.m5.large \
  --allocated-storage 20 --master-username bench --master-user-password bench-pass --port 4582 --multi-az >/dev/null
rds wait db-instance-available --db-instance-identifier single
rds wait db-instance-available --db-instance-identifier multi
sleep 0.5

export PGPASSWORD=bench-pass
tps() { # port extra-args…: prints tps
  local port=$1; shift
  pgbench -h 127.0.0.1 -p "$port" -U bench -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" "$@" postgres 2>/dev/null |
    awk '/^tps = / { print $3 }'
}
declare -A FIG
for target in postgres:$PG_PORT single:4581 multi:4582; do
  name=${target%%:*}
  port=${target##*:}
  pgbench -h 127.0.0.1 -p "$port" -U bench -i -s 1 -q postgres >/dev/null 2>&1
  FIG[$name-select]=$(tps "$port" -S)
  FIG[$name-tpcb]=$(tps "$port")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '\npgbench, scale 1, %s clients, %s s each (tps; ratio = squall / PostgreSQL)\n' "$CLIENTS" "$SECONDS_EACH"
printf '%-26s %12s %12s %12s %10s %10s\n' script postgresql single-az multi-az single/pg multi/pg
for script in select tpcb; do
  label=$([ $script = select ] && echo "select-only (-S)" || echo "TPC-B-like (default)")
  printf '%-26s %12.0f %12.0f %12.0f %10s %10s\n' "$label" "${FIG[postgres-$script]}" "${FIG[single-$script]}" \
    "${FIG[multi-$script]}" "$(ratio "${FIG[single-$script]}" "${FIG[postgres-$script]}")" \
    "$(ratio "${FIG[multi-$script]}" "${FIG[postgres-$script]}")"
done
