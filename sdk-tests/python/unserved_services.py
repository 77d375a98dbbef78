"""Services squall does not serve answer in their own protocol, so boto3 reads the error: S3
(restXml), SQS and DynamoDB and SSM (awsJson), Lambda (restJson), IAM and SNS (awsQuery).

Run by sdk-tests/tests/boto3.rs against the squall at argv[1]; exits non-zero on a wrong answer.
"""
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

kw = dict(
    endpoint_url=sys.argv[1],
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"max_attempts": 1}),
)
for service, call in [
    ("s3", "list_buckets"),
    ("sqs", "list_queues"),
    ("dynamodb", "list_tables"),
    ("ssm", "describe_parameters"),
    ("lambda", "list_functions"),
    ("iam", "list_users"),
    ("sns", "list_topics"),
]:
    try:
        getattr(boto3.client(service, **kw), call)()
    except ClientError as e:
        error, status = e.response["Error"], e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert (error.get("Code"), status) == ("NotImplemented", 501), (service, error, status)
        assert f"squall does not serve the {service} API" in error.get("Message", ""), (service, error)
    else:
        raise AssertionError(f"{service} {call} succeeded")

print("boto3 unserved services: ok")
