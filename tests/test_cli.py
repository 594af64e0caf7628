from __future__ import annotations

import json

import pytest

from common.config import settings
from functions.cli import main


def test_missing_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings.cache_clear()
    assert main(["costs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: DATABASE_URL is required") and err.count("\n") == 1
    settings.cache_clear()


def test_init_db_and_costs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    settings.cache_clear()
    assert main(["init-db"]) == 0
    assert main(["costs"]) == 0
    out = capsys.readouterr().out
    costs = json.loads(out[out.index("}") + 1 :])
    assert costs["requests"] == 0 and costs["tier1_hit_rate"] is None
    settings.cache_clear()
