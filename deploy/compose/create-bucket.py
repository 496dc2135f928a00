"""Run by the Compose stack's drkit-init service (as UID 10001, in the drkit image): wait until the S3
server answers, create the bucket if it is not there, and say whether a drkit repository is in it.

    python create-bucket.py BUCKET PREFIX      exit 0: repository present; 3: none yet; 1: failure

The endpoint comes from DRKIT_S3_ENDPOINT, the keys from boto3's chain (the stack points
AWS_SHARED_CREDENTIALS_FILE at secrets/s3-credentials). boto3 is in the image (drkit[s3]).
"""

from __future__ import annotations

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

WAIT_SECONDS = 180.0  # a first start of the S3 server (master, volume server, filer) takes a while


def _ready(client: object) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            client.list_buckets()  # type: ignore[attr-defined]
            return
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                sys.exit(f"create-bucket: S3 at {os.environ.get('DRKIT_S3_ENDPOINT')} not answering: {exc}")
            time.sleep(1)


def main(bucket: str, prefix: str) -> int:
    client = boto3.client("s3", endpoint_url=os.environ.get("DRKIT_S3_ENDPOINT"), region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
    _ready(client)
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)
        print(f"created bucket {bucket}", flush=True)
    found = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/config", MaxKeys=1).get("KeyCount", 0)
    print(f"repository {'present' if found else 'not there yet'} at s3://{bucket}/{prefix}", flush=True)
    return 0 if found else 3


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
