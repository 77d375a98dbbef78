"""What the boto3 scripts share: clients of the squall under test, an expected AWS error, the
fault API, and a psycopg connection that waits for an SQL endpoint to open."""
import json
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# boto3's waiters, polling every second.
FAST = {"Delay": 1, "MaxAttempts": 60}


def client(service, endpoint, region="us-east-1", access_key="test"):
    """A boto3 client of `service` against the squall at `endpoint`, without retries (an access
    key of twelve digits is its own account)."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def fails(code, call, *args, **kwargs):
    """Calls `call`, which must answer the AWS error `code`; returns the error's message."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{call.__name__}: wanted {code}, got {got}: {e}"
        return e.response["Error"]["Message"]
    raise AssertionError(f"{call.__name__} succeeded; wanted {code}")


def fault_api(endpoint, method, path, body=None):
    """(status, JSON body) of a fault API request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{endpoint}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def pg_connect(port, user, password, dbname="postgres", attempts=100):
    """A psycopg connection (autocommit) to the SQL endpoint on `port`, once it takes one."""
    import psycopg

    dsn = f"host=127.0.0.1 port={port} dbname={dbname} user={user} password={password} connect_timeout=5"
    for _ in range(attempts):
        try:
            return psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as e:
            if "too many clients" in str(e):
                raise
            time.sleep(0.1)
    raise AssertionError(f"the endpoint on {port} never took a connection")
