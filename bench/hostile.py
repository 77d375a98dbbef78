#!/usr/bin/env python3
"""A hostile client against the release binary: the cases of the hardening issue, each run at
scale, with what squall did printed as figures. Not a test (server/tests and sdk-tests hold one
per case); this shows the limits holding under load and how much each attack cost.

    python3 bench/hostile.py [--scale 1.0] [--keep]

Needs: cargo (builds squall --release). Runs squall on loopback ports 4766/10866 with a fault
token, a low descriptor limit (ulimit -n 256), short connection time-outs and a connection cap,
in a temporary data directory. Exits non-zero if any case breaks a limit (a 5xx where a 4xx is
due, a region created, a line injected, a crash).
"""
import argparse
import http.client
import json
import os
import random
import resource
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTTP, NBD = 4766, 10866
TOKEN = "hostile-token"
FAILURES = []


def auth(region="us-east-1", service="ec2"):
    return (f"AWS4-HMAC-SHA256 Credential=test/20261201/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=00")


def call(method, path, body=b"", headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", HTTP, timeout=timeout)
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def ec2(body, region="us-east-1"):
    return call("POST", "/", body.encode() if isinstance(body, str) else body, {"Authorization": auth(region)})


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def start(data_dir, log):
    binary = os.path.join(ROOT, "target", "release", "squall")
    args = [binary, "--listen", f"127.0.0.1:{HTTP}", "--nbd-listen", f"127.0.0.1:{NBD}", "--data-dir", data_dir,
            "--fault-token", TOKEN, "--max-connections", "64", "--http-header-timeout-ms", "2000",
            "--http-body-timeout-ms", "2000", "--nbd-handshake-timeout-ms", "2000", "--lifecycle-delay-ms", "0"]

    def limit_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=limit_fds)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if call("GET", "/_squall/health", timeout=1)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("squall did not start")


def regions_case(data_dir, n):
    print(f"1. {n} made-up region names in the credential scope (DescribeVolumes, a read)")
    statuses = {}
    for _ in range(n):
        name = "".join(random.choices(string.ascii_lowercase, k=2)) + "-" + random.choice(
            ["north", "fake", "evil"]) + "-" + str(random.randint(1, 99))
        s, _ = ec2("Action=DescribeVolumes&Version=2016-11-15", region=name)
        statuses[s] = statuses.get(s, 0) + 1
    regions = os.path.join(data_dir, "regions")
    dirs = os.listdir(regions) if os.path.isdir(regions) else []
    status_size = len(call("GET", "/_squall/status")[1])
    print(f"      answers {statuses}; region directories on disk: {sorted(dirs)}; /_squall/status {status_size} bytes")
    check(set(statuses) == {401}, "every made-up region answered 401 AuthFailure")
    check(set(dirs) <= {"us-east-1"}, "no region directory was created")


def connections_case(n):
    print(f"2. {n} idle connections to each port, and {n} slowloris heads (ulimit -n 256, cap 64)")
    held = []
    for port in (HTTP, NBD):
        for _ in range(n):
            try:
                held.append((port, socket.create_connection(("127.0.0.1", port), timeout=5)))
            except OSError:
                break
    for _, c in held[: n // 2]:
        try:
            c.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
        except OSError:
            pass
    t0 = time.time()
    s, body = ec2("Action=DescribeRegions&Version=2016-11-15")
    waited = time.time() - t0
    print(f"      {len(held)} connections opened; DescribeRegions answered {s} after {waited:.2f} s")
    check(s == 200 and waited < 10, "a fresh client is served while the idle ones are timed out")
    # Past the cap of 64 the rest wait in the backlog and are served in turn, each closed after
    # its own 2 s: all are gone after about (n / 64 + 1) × 2 s.
    time.sleep(2 * (n // 64 + 2))
    closed = {HTTP: 0, NBD: 0}
    for port, c in held:
        c.settimeout(0.5)
        try:
            data = c.recv(65536)
            while data and len(data) < 1 << 20:  # an NBD greeting or a 408 first, then the close
                data = c.recv(65536)
            closed[port] += 1
        except (OSError, socket.timeout):
            pass
        c.close()
    print(f"      closed by squall within {2 * (n // 64 + 2)} s: HTTP {closed[HTTP]} of {n}, NBD {closed[NBD]} of {n}")
    check(closed[HTTP] == n and closed[NBD] == n, "every idle and half-sent connection was closed")


def metrics_case(n):
    print(f"3. {n} made-up Actions, some crafted to inject lines into /metrics")
    before = len(call("GET", "/metrics")[1])
    injected = urllib.parse.quote('Evil"} 1\nsquall_injected_metric{a="b"} 42\n')
    ec2(f"Action={injected}&Version=2016-11-15")
    for i in range(n):
        ec2(f"Action=Made{random.getrandbits(64):x}&Version=2016-11-15")
    ec2("Action=" + "A" * 262144 + "&Version=2016-11-15")
    text = call("GET", "/metrics")[1]
    print(f"      /metrics {before} bytes before, {len(text)} after")
    check(b"squall_injected_metric" not in text, "no line injected")
    check(len(text) < before + 20000, "/metrics did not grow with the made-up actions")


def token_case():
    print("4. squall's mutating endpoints without the fault token")
    paths = [("POST", "/_squall/reset"), ("POST", "/moto-api/reset"), ("POST", "/_localstack/state/reset"),
             ("POST", "/_squall/faults"), ("PUT", "/_squall/config"), ("DELETE", "/_squall/faults")]
    answers = {f"{m} {p}": call(m, p, b'{"kind":"az-outage","zone":"us-east-1a"}')[0] for m, p in paths}
    print(f"      {answers}")
    check(all(s in (401, 403) for s in answers.values()), "every one refused")


def fault_bodies_case(n):
    print(f"5. {n} malformed and out-of-range fault bodies (with the token)")
    numbers = [1e19, 1e300, 2 ** 64, 2 ** 64 - 1, -1, 0, 0.5, 2 ** 34, "x", None, [], {}]
    kinds = ["network-partition", "node-crash", "capacity", "api-latency", "az-outage", "volume-io-pause", "nope"]
    fields = ["duration", "latencyMs", "nodeCapacityGib", "addNodes", "fraction", "probability", "nodes", "zone"]
    statuses = {}
    accepted = []
    for _ in range(n):
        body = {"kind": random.choice(kinds), "zone": random.choice(["us-east-1a", "zz-9", 7])}
        for f in random.sample(fields, random.randint(1, 4)):
            body[f] = random.choice(numbers)
        raw = json.dumps(body).encode() if random.random() < 0.9 else os.urandom(random.randint(0, 64))
        s, data = call("POST", "/_squall/faults", raw, {"Authorization": f"Bearer {TOKEN}",
                                                        "Content-Type": "application/json"})
        statuses[s] = statuses.get(s, 0) + 1
        if s == 201:
            accepted.append(json.loads(data))
    call("DELETE", "/_squall/faults", headers={"Authorization": f"Bearer {TOKEN}"})
    ends = [f.get("endsMs") for f in accepted if f.get("endsMs")]
    week = (time.time() + 8 * 86400) * 1000
    print(f"      answers {statuses}; {len(accepted)} accepted, the latest ends "
          f"{(max(ends) / 1000 - time.time()) / 3600:.1f} h from now" if ends else f"      answers {statuses}")
    check(not any(s >= 500 for s in statuses), "no 5xx")
    check(all(e < week for e in ends), "no accepted fault lasts past a week")


def params_case(pid, n):
    print(f"6. a form of {n} parameters, and a 200 KiB header")
    before = rss_kib(pid, "VmHWM")
    body = "Action=DescribeVolumes&Version=2016-11-15" + "".join(f"&p{i}=" for i in range(n))
    s, data = ec2(body)
    after = rss_kib(pid, "VmHWM")
    code = data.split(b"<Code>")[1].split(b"</Code>")[0].decode() if b"<Code>" in data else "-"
    print(f"      {len(body)} bytes answered {s} {code}; RSS high-water {before // 1024} MiB before, "
          f"{after // 1024} MiB after")
    check(s == 400 and after - before < 64 * 1024, "refused without decoding")
    c = socket.create_connection(("127.0.0.1", HTTP))
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200 * 1024 + b"\r\n\r\n")
    head = c.recv(64)
    c.close()
    first = head.split(b"\r\n")[0].decode()
    print(f"      200 KiB header: {first}")
    check(b" 431 " in head, "431 for the header")


def tags_case():
    print("8. tags with bad bytes, bad escapes, reserved prefixes and lengths")
    bodies = [b"Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-0123456789abcdef0&Tag.1.Key=%FF&Tag.1.Value=x",
              b"Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-0123456789abcdef0&Tag.1.Key=%zz&Tag.1.Value=x",
              b"Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-0123456789abcdef0&Tag.1.Key=aws:x",
              b"Action=CreateTags&Version=2016-11-15&ResourceId.1=vol-0123456789abcdef0&Tag.1.Key=" + b"k" * 129]
    codes = []
    for b in bodies:
        s, data = ec2(b)
        codes.append((s, data.split(b"<Code>")[1].split(b"</Code>")[0].decode() if b"<Code>" in data else "-"))
    print(f"      {codes}")
    check([c for _, c in codes] == ["MalformedQueryString", "MalformedQueryString", "InvalidParameterValue",
                                    "InvalidParameterValue"], "each refused with AWS's code")


def kill_case(data_dir, log, trials):
    print(f"7. kill -9 during CreateVolume, {trials} times")
    acked, reclaimed = set(), 0
    proc = None
    for _ in range(trials):
        proc = start(data_dir, log)
        stop = time.time() + random.uniform(0.05, 0.4)
        while time.time() < stop:
            try:
                s, data = ec2("Action=CreateVolume&Version=2016-11-15&AvailabilityZone=us-east-1a&Size=1")
                if s == 200:
                    acked.add(data.split(b"<volumeId>")[1].split(b"</volumeId>")[0].decode())
            except OSError:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = start(data_dir, log)
        s, data = ec2("Action=DescribeVolumes&Version=2016-11-15")
        present = {v.split(b"</volumeId>")[0].decode() for v in data.split(b"<volumeId>")[1:]}
        status = json.loads(call("GET", "/_squall/status")[1])
        zones = status["regions"]["us-east-1"]
        reclaimed += sum((z.get("storage") or {}).get("counters", {}).get("orphansReclaimed", 0) for z in zones)
        stored = sum((z.get("storage") or {}).get("volumes", 0) for z in zones)
        check(acked <= present, f"all {len(acked)} acknowledged volumes kept")
        check(stored == len(present), f"storage holds {stored} volumes, the control plane {len(present)}")
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    print(f"      {len(acked)} volumes acknowledged, {reclaimed} orphan storage volumes reclaimed in {trials} restarts")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--keep", action="store_true", help="keep the data directory and log")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "squall"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="squall-hostile-")
    data_dir = os.path.join(work, "data")
    log = open(os.path.join(work, "squall.log"), "wb")
    seed = random.randrange(1 << 32)
    random.seed(seed)
    print(f"hostile client, seed {seed}, scale {a.scale}; data and log in {work}")
    proc = start(data_dir, log)
    try:
        cases = [
            lambda: regions_case(data_dir, int(2000 * a.scale)),
            lambda: connections_case(int(200 * a.scale)),
            lambda: metrics_case(int(10000 * a.scale)),
            token_case,
            lambda: fault_bodies_case(int(2200 * a.scale)),
            lambda: params_case(proc.pid, int(300000 * a.scale)),
            tags_case,
        ]
        for case in cases:
            case()
            print(f"      squall RSS {rss_kib(proc.pid, 'VmRSS') // 1024} MiB, "
                  f"high-water {rss_kib(proc.pid, 'VmHWM') // 1024} MiB")
        check(proc.poll() is None, "squall still running after cases 1-6 and 8")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    kill_case(data_dir, log, max(2, int(20 * a.scale)))
    if not a.keep:
        subprocess.run(["rm", "-rf", work])
    print(f"{len(FAILURES)} limits broken" + (": " + "; ".join(FAILURES) if FAILURES else ""))
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
