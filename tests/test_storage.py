"""Object storage against moto's S3 server over HTTP."""

from __future__ import annotations

import gzip

import httpx
import pytest

from common.config import Settings
from common.errors import StorageError
from common.storage import ObjectStore


def test_gzipped_json_round_trip_and_presigned_url(settings: Settings) -> None:
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    store.ensure_bucket()  # idempotent
    store.put_json_gz("transcripts/1.json.gz", {"callId": "1", "transcript": []})
    raw = store.client.get_object(Bucket=settings.s3_bucket, Key="transcripts/1.json.gz")
    assert raw["ContentEncoding"] == "gzip"
    assert gzip.decompress(raw["Body"].read()).startswith(b'{"callId":"1"')
    assert store.get_json_gz("transcripts/1.json.gz") == {"callId": "1", "transcript": []}
    store.put_bytes("reports/x.html", b"<h1>hi</h1>", "text/html")
    assert httpx.get(store.presigned_url("reports/x.html")).text == "<h1>hi</h1>"


def test_missing_object_is_a_storage_error(settings: Settings) -> None:
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    with pytest.raises(StorageError, match="could not read"):
        store.get_bytes("nope")
