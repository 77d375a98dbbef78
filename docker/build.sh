#!/usr/bin/env bash
# Builds a static squall binary and the image squall:latest (FROM scratch) in one command.
#   docker/build.sh [TAG]        default TAG: squall:latest
# The binary is built in its own target dir (target/docker) so that the static flags do not
# invalidate the normal build cache, and so it can run while another cargo holds target/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-squall:latest}
target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="${SQUALL_DOCKER_TARGET_DIR:-$root/target/docker}"
# glibc linked statically: the image has no libc. With an explicit --target the flag applies
# to squall only, not to build scripts and proc macros.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --manifest-path "$root/Cargo.toml" --release --locked --target "$target" -p squall --bin squall
binary="$CARGO_TARGET_DIR/$target/release/squall"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$root/docker/Dockerfile" "$context/"
# The legacy builder warns about buildx on every run; show its output only when it fails.
if ! docker build --quiet --tag "$tag" "$context" >"$context/build.log" 2>&1; then
  cat "$context/build.log" >&2
  exit 1
fi
echo "built $tag ($(du -h "$binary" | cut -f1) binary)"
