"""One boto3 ``upload_file`` to an S3 endpoint, timed from just before the call to its return
(interpreter start-up and imports excluded). Prints one JSON line: {"seconds": ...}.

Usage: python boto3_upload.py ENDPOINT BUCKET KEY FILE PART_BYTES CONCURRENCY ACCESS SECRET
"""

import json
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig


def main() -> None:
    endpoint, bucket, key, path, part, concurrency, access, secret = sys.argv[1:9]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    config = TransferConfig(
        multipart_threshold=int(part),
        multipart_chunksize=int(part),
        max_concurrency=int(concurrency),
        use_threads=True,
    )
    t0 = time.perf_counter()
    client.upload_file(path, bucket, key, Config=config)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
