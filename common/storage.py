"""Object storage (S3 or any S3-compatible endpoint) for transcripts and reports."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from common.config import Settings
from common.errors import StorageError


@dataclass
class ObjectStore:
    bucket: str
    client: Any  # boto3 S3 client

    @classmethod
    def from_settings(cls, s: Settings) -> ObjectStore:
        client = boto3.client(
            "s3",
            endpoint_url=s.s3_endpoint_url,
            region_name=s.aws_region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )
        return cls(bucket=s.s3_bucket, client=client)

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put_bytes(self, key: str, data: bytes, content_type: str, **extra: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not write s3://{self.bucket}/{key}: {exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"could not read s3://{self.bucket}/{key}: {exc}") from exc
        return body

    def put_json_gz(self, key: str, value: Any) -> None:
        data = gzip.compress(json.dumps(value, separators=(",", ":")).encode())
        self.put_bytes(key, data, "application/json", ContentEncoding="gzip")

    def get_json_gz(self, key: str) -> Any:
        return json.loads(gzip.decompress(self.get_bytes(key)))

    def presigned_url(self, key: str, expires_s: int = 7 * 24 * 3600) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url

    def delete(self, keys: list[str]) -> int:
        """Delete objects (1,000 per request); a missing key is not an error."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`."""
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            found += [o["Key"] for o in page.get("Contents", [])]
        return found
