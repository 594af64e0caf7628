"""The rep's job role at the call chooses its rubric variants (common/scoring/service.py
`decide`), end to end through the analyze-call flow: a role's variant is its own rubric version
(its own cache key), and the call's coaching says which role its scores are for."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg.rows import dict_row

from common.calls import roles
from common.calls.store import upsert_users
from common.config import ROOT, Settings
from common.gong import GongClient
from common.insights.calls import call_coaching
from flows.analyze_call import analyze_call
from local.anthropic_server import StandInState

DISCOVERY_CALL = "7001001"  # Dana Lee's (2003), an account executive in Gong
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)  # before every sample call


def _se_variant(tmp_path: Path) -> Path:
    """rubrics/ with product knowledge for sales engineers: deeper technical criteria."""
    folder = tmp_path / "rubrics"
    shutil.copytree(ROOT / "rubrics", folder)
    data = yaml.safe_load((folder / "product_knowledge.yaml").read_text())
    data |= {"version": "1.0.0", "title": "Product knowledge (sales engineers)", "roles": ["se"]}
    data["description"] += " A sales engineer answers architecture and integration questions."
    (folder / "variants" / "product_knowledge_se.yaml").write_text(yaml.safe_dump(data))
    return folder


def _set_role(s: Settings, role: str) -> None:
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        roles.set_job_role(conn, "2003", role, since=LONG_AGO)


def _versions(s: Settings) -> dict[str, str]:
    with psycopg.connect(s.database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT dimension, rubric_version FROM current_sessions WHERE call_id = %s",
            (DISCOVERY_CALL,),
        ).fetchall()
    return {r["dimension"]: r["rubric_version"] for r in rows}


def test_a_sales_engineers_call_is_scored_on_the_roles_variant_and_shows_the_role(
    engine_env: Settings,
    claude: StandInState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUBRICS_DIR", str(_se_variant(tmp_path)))
    with (
        GongClient.from_settings(engine_env) as gong,
        psycopg.connect(engine_env.database_url, row_factory=dict_row) as conn,
    ):
        upsert_users(conn, list(gong.users()))
    _set_role(engine_env, "se")
    analyze_call(DISCOVERY_CALL)
    as_se = _versions(engine_env)
    assert as_se["product_knowledge"].endswith("+variant.product_knowledge_se")
    assert not any("+variant." in v for d, v in as_se.items() if d != "product_knowledge")
    with psycopg.connect(engine_env.database_url, row_factory=dict_row) as conn:
        assert call_coaching(conn, DISCOVERY_CALL).job_role == "se"

    _set_role(engine_env, "ae")  # an admin's correction: she was an AE all along
    before = claude.requests
    analyze_call(DISCOVERY_CALL)
    as_ae = _versions(engine_env)
    assert claude.requests - before == 1  # only the dimension whose rubric differs
    assert "+variant." not in as_ae["product_knowledge"]
    assert {d: v for d, v in as_ae.items() if d != "product_knowledge"} == {
        d: v for d, v in as_se.items() if d != "product_knowledge"
    }
    with psycopg.connect(engine_env.database_url, row_factory=dict_row) as conn:
        assert call_coaching(conn, DISCOVERY_CALL).job_role == "ae"
