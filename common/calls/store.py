"""Calls and users: fetching from Gong, storing transcripts, and their queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from common import deals
from common.calls import roles
from common.calls.flags import Flag
from common.calls.metrics import ConversationMetrics
from common.calls.redaction import redact_transcript
from common.calls.transcript import Utterance, canonical_hash, utterances
from common.db import Row
from common.deals import StageMap
from common.errors import PayloadInvalid
from common.gong import Call, CallTranscript, GongClient, User
from common.intake import outbox
from common.intake.delivery import SAFE_ID
from common.storage import ObjectStore


@dataclass(frozen=True)
class FetchedCall:
    call: Call
    transcript: CallTranscript
    transcript_hash: str
    transcript_key: str

    @property
    def utterances(self) -> list[Utterance]:
        return utterances(self.transcript, self.call.parties)


def check_call_id(call_id: str) -> str:
    """Gong call ids are numeric; we accept letters, digits, '_' and '-' (they become S3 keys)."""
    if not SAFE_ID.fullmatch(call_id):
        raise PayloadInvalid(f"call id {call_id[:80]!r} is not a safe id ([A-Za-z0-9_-], 1-64)")
    return call_id


def transcript_key(call_id: str) -> str:
    return f"transcripts/{check_call_id(call_id)}.json.gz"


def fetch_call(gong: GongClient, store: ObjectStore, call_id: str) -> FetchedCall:
    """Fetch metadata and transcript from Gong; keep the raw transcript gzipped in S3."""
    return fetch_calls(gong, store, [call_id], {})[call_id]


def fetch_calls(
    gong: GongClient,
    store: ObjectStore,
    call_ids: Sequence[str],
    known: dict[str, Call],
    redact: tuple[str, ...] = (),
) -> dict[str, FetchedCall]:
    """Fetch many calls with one request per 100 ids; calls Gong has no transcript for yet are
    left out. `known` holds call data we already have (the webhook's), not fetched again.
    With `redact` (REDACT), the transcript is redacted before it is stored or hashed."""
    wanted = [check_call_id(c) for c in call_ids]
    transcripts = gong.transcripts(wanted)
    missing_meta = [c for c in wanted if c in transcripts and c not in known]
    calls = {**known, **(gong.calls_by_id(missing_meta) if missing_meta else {})}
    fetched: dict[str, FetchedCall] = {}
    for call_id, (transcript, raw) in transcripts.items():
        if call_id not in calls:
            continue
        key = transcript_key(call_id)
        if redact:
            raw = redact_transcript(raw, redact)
            transcript = CallTranscript.model_validate(raw)
        store.put_json_gz(key, raw)
        fetched[call_id] = FetchedCall(calls[call_id], transcript, canonical_hash(transcript), key)
    return fetched


def webhook_call_data(conn: psycopg.Connection[Row], call_ids: Sequence[str]) -> dict[str, Call]:
    """The call data Gong sent with each call's webhook (metadata and parties), where we have it."""
    known: dict[str, Call] = {}
    for call_id, data in outbox.delivered_call_data(conn, call_ids).items():
        try:
            call = Call.model_validate(data)
        except ValueError:
            continue
        if call.metaData.id == call_id:
            known[call_id] = call
    return known


def load_stored_call(
    conn: psycopg.Connection[Row], store: ObjectStore, call_id: str
) -> FetchedCall | None:
    """The call as stored earlier (no Gong request), or None if it has no transcript yet."""
    row = conn.execute(
        "SELECT id, url, title, started_at, duration_s, primary_user_id, parties, transcript_key,"
        " transcript_hash, scope, system, direction, language FROM calls"
        " WHERE id = %s AND transcript_key IS NOT NULL",
        (call_id,),
    ).fetchone()
    if row is None:
        return None
    call = Call.model_validate(
        {
            "metaData": {
                "id": row["id"],
                "url": row["url"],
                "title": row["title"],
                "started": row["started_at"],
                "duration": row["duration_s"],
                "primaryUserId": row["primary_user_id"],
                "scope": row["scope"],
                "system": row["system"],
                "direction": row["direction"],
                "language": row["language"],
            },
            "parties": row["parties"],
        }
    )
    transcript = CallTranscript.model_validate(store.get_json_gz(row["transcript_key"]))
    return FetchedCall(call, transcript, row["transcript_hash"], row["transcript_key"])


def upsert_call(
    conn: psycopg.Connection[Row],
    fetched: FetchedCall,
    metrics: ConversationMetrics,
    tokens: int,
    flags: list[Flag] | None = None,
    *,
    stages: StageMap | None = None,
) -> None:
    """Store the call; with the tenant's stage map (`stages`) also the deal its CRM context
    names (`common.deals`). Without it, or without context, the daily deal refresh asks."""
    meta = fetched.call.metaData
    conn.execute(
        """
        INSERT INTO calls (id, title, url, started_at, duration_s, primary_user_id, parties,
                           transcript_key, transcript_hash, transcript_tokens, metrics,
                           scope, system, direction, language, flags)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (id) DO UPDATE SET
            title = EXCLUDED.title, url = EXCLUDED.url, started_at = EXCLUDED.started_at,
            duration_s = EXCLUDED.duration_s, primary_user_id = EXCLUDED.primary_user_id,
            parties = EXCLUDED.parties, transcript_key = EXCLUDED.transcript_key,
            transcript_hash = EXCLUDED.transcript_hash,
            transcript_tokens = EXCLUDED.transcript_tokens, metrics = EXCLUDED.metrics,
            scope = EXCLUDED.scope, system = EXCLUDED.system, direction = EXCLUDED.direction,
            language = EXCLUDED.language, flags = EXCLUDED.flags, updated_at = now()
        """,
        (
            meta.id,
            meta.title or "",
            meta.url,
            meta.started,
            int(meta.duration) if meta.duration is not None else None,
            meta.primaryUserId,
            Jsonb([p.model_dump() for p in fetched.call.parties]),
            fetched.transcript_key,
            fetched.transcript_hash,
            tokens,
            Jsonb(metrics.model_dump()),
            meta.scope,
            meta.system,
            meta.direction,
            meta.language,
            Jsonb([f.model_dump() for f in flags or []]),
        ),
    )
    if stages is not None:
        deals.record_context(conn, meta.id, fetched.call.context, stages)


def record_applicability(
    conn: psycopg.Connection[Row], call_id: str, call_type: str, skipped: str | None
) -> None:
    """The call type the rules chose, and why the call was skipped (None: it is scored)."""
    conn.execute(
        "UPDATE calls SET call_type = %s, skipped_reason = %s, updated_at = now() WHERE id = %s"
        " AND (call_type IS DISTINCT FROM %s OR skipped_reason IS DISTINCT FROM %s)",
        (call_type, skipped, call_id, call_type, skipped),
    )


def upsert_users(
    conn: psycopg.Connection[Row], users: list[User], titles: roles.TitleMap = roles.DEFAULT_MAP
) -> int:
    """Sync Gong users; access roles are ours (kept), managers are linked once all users
    exist; job roles follow Gong's titles (`titles`, JOB_ROLE_TITLES) unless an admin set one."""
    for u in users:
        conn.execute(
            """
            INSERT INTO users (id, email, name, title, active)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name,
                title = EXCLUDED.title, active = EXCLUDED.active, updated_at = now()
            """,
            (u.id, u.emailAddress, u.name, u.title, u.active),
        )
    for u in users:
        conn.execute(
            "UPDATE users SET manager_id = %s WHERE id = %s AND %s IN (SELECT id FROM users)",
            (u.managerId, u.id, u.managerId),
        )
    conn.execute(
        "UPDATE users SET role = 'manager' WHERE role = 'rep'"
        " AND id IN (SELECT manager_id FROM users WHERE manager_id IS NOT NULL)"
    )
    roles.apply_gong_titles(conn, [(u.id, u.title) for u in users], titles)
    return len(users)


def ensure_rep(
    conn: psycopg.Connection[Row], call: Call, titles: roles.TitleMap = roles.DEFAULT_MAP
) -> None:
    """Make sure the call's primary rep exists as a user (before the next user sync), with a
    job role (from the title the call gives them, when no sync has given one)."""
    rep_id = call.metaData.primaryUserId
    if not rep_id:
        return
    party = next((p for p in call.parties if p.userId == rep_id), None)
    conn.execute(
        "INSERT INTO users (id, email, name, title) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        (
            rep_id,
            party.emailAddress if party else None,
            party.name if party else "",
            party.title if party else None,
        ),
    )
    roles.ensure_role(conn, rep_id, party.title if party else None, titles)
