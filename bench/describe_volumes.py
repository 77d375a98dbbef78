#!/usr/bin/env python3
"""DescribeVolumes throughput: squall beside moto's server mode, in one run, printing req/s and
the ratio. Not a test: nothing is asserted about speed.

    python3 bench/describe_volumes.py [--requests N]

Needs: cargo (builds squall --release), boto3 and moto[server] (PyPI). Both servers run on
loopback; requests go over one keep-alive connection with a fixed SigV4-shaped header (neither
server verifies signatures), so the client's own cost stays small and equal for both.
"""
import argparse
import http.client
import os
import subprocess
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTH = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"


def wait_ready(port, path):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            if c.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not start")


def create_volumes(port, count):
    ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    for i in range(count):
        ec2.create_volume(AvailabilityZone=["us-east-1a", "us-east-1b", "us-east-1c"][i % 3], Size=1)


def drive(port, body, requests):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Authorization": AUTH}
    start = time.perf_counter()
    for _ in range(requests):
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200 or b"volumeSet" not in data:
            raise SystemExit(f"bad answer from {port}: {resp.status} {data[:200]!r}")
    return requests / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--many", type=int, default=5000, help="volumes for the paged case")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "squall", "--bin", "squall"], cwd=ROOT, check=True)
    servers = {
        "squall": ([os.path.join(ROOT, "target", "release", "squall"), "--listen", "127.0.0.1:14700", "--log", "warn"], 14700, "/_squall/health"),
        "moto": ([sys.executable, "-m", "moto.server", "-p", "14701"], 14701, "/moto-api/"),
    }
    procs = {}
    try:
        for name, (cmd, port, health) in servers.items():
            procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_ready(port, health)
        results = {}
        for name, (_, port, _) in servers.items():
            create_volumes(port, 100)
            full = drive(port, "Action=DescribeVolumes&Version=2016-11-15", args.requests)
            create_volumes(port, args.many - 100)
            paged = drive(port, "Action=DescribeVolumes&Version=2016-11-15&MaxResults=5", args.requests)
            results[name] = (full, paged)
        print(f"{'case':<44} {'squall req/s':>13} {'moto req/s':>11} {'ratio':>7}")
        for i, case in enumerate([f"DescribeVolumes, all of 100 volumes", f"DescribeVolumes MaxResults=5 of {args.many}"]):
            s, m = results["squall"][i], results["moto"][i]
            print(f"{case:<44} {s:>13.0f} {m:>11.0f} {s / m:>6.1f}x")
    finally:
        for p in procs.values():
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
