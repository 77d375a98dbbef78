#!/usr/bin/env python3
"""CreateVolume at scale: creates N volumes over one keep-alive connection and prints the cost of
each successive thousand (a cost that grows with the number of volumes is the O(n) per write that
a whole-region rewrite had), then restarts squall on the same data directory and times the first
DescribeVolumes after start. Not a test: nothing is asserted about speed.

    python3 bench/create_volumes.py [--volumes 10000] [--binary target/release/squall]

Needs: cargo (builds squall --release unless --binary is given).
"""
import argparse
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"
HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": AUTH}
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data_dir, port):
    proc = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--nbd-listen", "127.0.0.1:0", "--data-dir", data_dir,
         "--log", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/_squall/health")
            if c.getresponse().status == 200:
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.005)
    proc.kill()
    raise SystemExit("squall did not start")


def call(conn, body):
    conn.request("POST", "/", body=body, headers=HEADERS)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise SystemExit(f"{body}: {resp.status} {data[:300]!r}")
    return data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--volumes", type=int, default=10000)
    ap.add_argument("--binary", default=None)
    args = ap.parse_args()
    binary = args.binary
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "squall", "--bin", "squall"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "squall")
    data_dir = tempfile.mkdtemp(prefix="squall-create-bench-")
    try:
        port = free_port()
        proc, _ = start(binary, data_dir, port)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        per_thousand = []
        t = time.perf_counter()
        for i in range(args.volumes):
            call(conn, f"Action=CreateVolume&Version=2016-11-15&AvailabilityZone={ZONES[i % 3]}&Size=1")
            if (i + 1) % 1000 == 0:
                now = time.perf_counter()
                per_thousand.append(now - t)
                t = now
                print(f"volumes {i + 1 - 999:>6}-{i + 1:<6} {per_thousand[-1]:6.2f} s "
                      f"({1000 / per_thousand[-1]:6.0f} CreateVolume/s)", flush=True)
        call(conn, "Action=DescribeVolumes&Version=2016-11-15&MaxResults=5")
        proc.terminate()
        proc.wait()
        if len(per_thousand) >= 2:
            print(f"last thousand / first thousand: {per_thousand[-1] / per_thousand[0]:.2f}x")
        port = free_port()
        proc, ready = start(binary, data_dir, port)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        t0 = time.perf_counter()
        data = call(conn, "Action=DescribeVolumes&Version=2016-11-15&MaxResults=1000")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        call(conn, "Action=DescribeVolumes&Version=2016-11-15&MaxResults=1000")
        second = time.perf_counter() - t0
        proc.terminate()
        proc.wait()
        print(f"restart with {args.volumes} volumes: healthy after {ready * 1000:.0f} ms, "
              f"first DescribeVolumes(1000) {first * 1000:.0f} ms (it opens the region), "
              f"the next {second * 1000:.0f} ms; {data.count(b'<volumeId>')} volumes in the page")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
