"""Fetching a call from the Gong stand-in into S3 (gzipped) and Postgres."""

from __future__ import annotations

import gzip
import json

import psycopg
from psycopg.rows import dict_row

from common.calls.metrics import compute
from common.calls.store import fetch_call, load_stored_call, transcript_key, upsert_users
from common.config import Settings
from common.gong import GongClient
from common.storage import ObjectStore
from local.gong_server import GongState
from local.samples import sample_calls


def test_fetch_stores_the_raw_transcript_gzipped_and_hashes_it(
    settings: Settings, gong: tuple[GongState, str]
) -> None:
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    with GongClient.from_settings(settings) as client:
        fetched = fetch_call(client, store, "7001002")
    raw = store.client.get_object(Bucket=settings.s3_bucket, Key=transcript_key("7001002"))[
        "Body"
    ].read()
    assert json.loads(gzip.decompress(raw)) == sample_calls()[1]["transcript"]
    assert len(fetched.transcript_hash) == 64
    from common.calls.store import upsert_call

    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        upsert_call(conn, fetched, compute(fetched.utterances), 1234)
        again = load_stored_call(conn, store, "7001002")
    assert again is not None and again.transcript_hash == fetched.transcript_hash
    assert [p.speakerId for p in again.call.parties] == [p.speakerId for p in fetched.call.parties]


def test_user_sync_links_managers_and_keeps_roles(
    settings: Settings, gong: tuple[GongState, str]
) -> None:
    with (
        GongClient.from_settings(settings) as client,
        psycopg.connect(settings.database_url, row_factory=dict_row) as conn,
    ):
        users = list(client.users())
        conn.execute("INSERT INTO users (id, name, role) VALUES ('2001', 'Alex', 'admin')")
        assert upsert_users(conn, users) == 5
        rows = {r["id"]: r for r in conn.execute("SELECT id, role, manager_id, name FROM users")}
    assert rows["2003"]["manager_id"] == "2002" and rows["2002"]["role"] == "manager"
    assert (
        rows["2001"]["role"] == "admin"
        and rows["2003"]["role"] == "rep"
        and rows["2003"]["name"] == "Dana Lee"
    )
