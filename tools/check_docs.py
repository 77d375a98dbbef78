#!/usr/bin/env python3
"""Runs the shell blocks of README.md and docs/faults.md as a reader would, against a fresh
release build, and fails on the first command that fails: the documentation stays true.

    python3 tools/check_docs.py [FILE.md …]        (default: README.md docs/faults.md)

How a document is run:
- its ```sh blocks, in order, in one bash session (`set -euo pipefail`), so variables flow from
  block to block as they do in a reader's terminal; each block is announced with its file:line;
- a fresh squall (the release binary, default options) is started first; a block line
  `cargo run --release [-- ARGS] &` stops it and starts the binary with ARGS instead (the
  command a reader types, without the rebuild), and `cargo run --release -- SUBCOMMAND …`
  runs the binary in the foreground;
- a line ending in `# fails: CODE` must fail and print CODE; one ending in `# prints: TEXT`
  must print TEXT (the reader's comment is the check);
- a block right after `<!-- check-docs: skip REASON -->` is not run (the reason is printed):
  blocks that build the image, run forever, or are checked elsewhere with assertions;
- the session runs in a temporary directory holding a link to docs/ (for `file://docs/…`), with
  a HOME of its own (no user AWS config), and every process it started is stopped at the end.

Needs what the blocks use: the AWS CLI, curl, jq, psql, nbdinfo, qemu-io (.ci/run installs them).
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DOCS = ["README.md", "docs/faults.md"]
SKIP = re.compile(r"<!--\s*check-docs:\s*skip:?\s*(.*?)\s*-->")
START = re.compile(r"^cargo run --release(?: -- (.*?))?\s*&\s*$")
FOREGROUND = re.compile(r"^cargo run --release -- (.*)$")
FAILS = re.compile(r"^(.*?)\s+#\s*fails:\s*(\S+)\s*$")
PRINTS = re.compile(r"^(.*?)\s+#\s*prints:?\s*(.+?)\s*$")

PRELUDE = r"""
set -euo pipefail
squall_stop() {
  if [ -n "${SQUALL_PID:-}" ]; then kill "$SQUALL_PID" 2>/dev/null || true; wait "$SQUALL_PID" 2>/dev/null || true; fi
  SQUALL_PID=
}
squall_start() {
  squall_stop
  echo "   (squall $*)"
  "$SQUALL_BIN" "$@" >>"$DOCS_SQUALL_LOG" 2>&1 &
  SQUALL_PID=$!
  for _ in $(seq 300); do
    if curl -sf localhost:4566/_squall/health >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "squall did not start; its log:"; tail -20 "$DOCS_SQUALL_LOG"; return 1
}
must_fail() {  # must_fail CODE 'COMMAND': the command fails and prints CODE
  local code=$1 out
  if out=$(eval "$2" 2>&1); then echo "$out"; echo "expected to fail with $code, but it succeeded"; return 1; fi
  echo "$out"
  grep -q -- "$code" <<<"$out" || { echo "failed, but without $code"; return 1; }
}
must_print() {  # must_print TEXT 'COMMAND': the command's output holds TEXT
  local text=$1 out
  out=$(eval "$2")
  echo "$out"
  grep -qF -- "$text" <<<"$out" || { echo "expected the output to hold: $text"; return 1; }
}
cleanup() { squall_stop; jobs -p | xargs -r kill 2>/dev/null || true; }
trap cleanup EXIT
"""


def blocks(path):
    """(first line number, text, skip reason or None) of each ```sh block."""
    lines = open(os.path.join(ROOT, path)).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        m = SKIP.search(lines[before]) if before >= 0 else None
        skip = (m.group(1) or "(no reason given)") if m else None
        start, body = i + 2, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        out.append((start, "\n".join(body), skip))
        i += 1
    return out


def transform(text):
    """The block as bash runs it: `cargo run` lines onto the built binary, `# fails:` checked."""
    out, pending = [], ""
    for line in text.split("\n"):
        full = pending + line
        if full.endswith("\\"):
            pending = full[:-1] + " "
            continue
        pending = ""
        stripped = full.strip()
        m = START.match(stripped)
        if m:
            out.append(f"squall_start {m.group(1) or ''}")
            continue
        m = FOREGROUND.match(stripped)
        if m:
            out.append(f'"$SQUALL_BIN" {m.group(1)}')
            continue
        m = FAILS.match(stripped)
        if m:
            out.append(f"must_fail {shlex.quote(m.group(2))} {shlex.quote(m.group(1))}")
            continue
        m = PRINTS.match(stripped)
        if m:
            out.append(f"must_print {shlex.quote(m.group(2))} {shlex.quote(m.group(1))}")
            continue
        out.append(full)
    return "\n".join(out)


def run(doc, binary):
    script = [PRELUDE, "squall_start"]
    for line, text, skip in blocks(doc):
        if skip:
            script.append(f"echo {shlex.quote(f'-- {doc}:{line} skipped: {skip}')}")
            continue
        script.append(f"echo {shlex.quote(f'-- {doc}:{line}')}")
        script.append(transform(text))
    with tempfile.TemporaryDirectory(prefix="squall-docs-") as work:
        os.symlink(os.path.join(ROOT, "docs"), os.path.join(work, "docs"))
        os.makedirs(os.path.join(work, "home"))
        env = dict(os.environ)
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                  "AWS_PROFILE", "AWS_REGION"]:
            env.pop(k, None)
        env.update(HOME=os.path.join(work, "home"), SQUALL_BIN=binary,
                   DOCS_SQUALL_LOG=os.path.join(work, "squall.log"), AWS_PAGER="")
        with open(os.path.join(work, "doc.sh"), "w") as f:
            f.write("\n".join(script) + "\n")
        result = subprocess.run(["bash", os.path.join(work, "doc.sh")], cwd=work, env=env, timeout=900)
        if result.returncode != 0:
            log = open(os.path.join(work, "squall.log")).read().splitlines()
            print("squall's log, last lines:\n" + "\n".join(log[-15:]))
        return result.returncode == 0


def main():
    docs = sys.argv[1:] or DEFAULT_DOCS
    binary = os.environ.get("SQUALL_BIN")
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "squall"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "squall")
    failed = []
    for doc in docs:
        print(f"== {doc}")
        if not run(doc, binary):
            failed.append(doc)
            print(f"== {doc}: FAILED (the last block announced above)")
        else:
            print(f"== {doc}: every block ran")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
