"""The command line: arguments, their types, and the error boundary that turns a failure a
user can act on into one line (exit 2) instead of a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.config import Settings
from functions.cli import main
from local.seed import Team

BAD_DATABASES = {
    "unreachable": "postgresql://coach@127.0.0.1:9/coach?connect_timeout=2",
    "malformed": "this is not a database url",
}
DATABASE_COMMANDS = [
    ["costs"],
    ["status"],
    ["init-db"],
    ["requeue"],
    ["token", "list"],
    ["set-role", "x@y.example", "admin"],
    ["agreement"],
    ["forget", "--email", "x@y.example"],
    ["calibrate"],
    ["retention"],
    ["validity"],
    ["coaching-effect"],
    ["compliance-pack", "/nonexistent/pack"],
]


def test_missing_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["costs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: DATABASE_URL is required") and err.count("\n") == 1


@pytest.mark.parametrize("bad", list(BAD_DATABASES))
def test_a_bad_database_url_is_one_line_for_every_database_command(
    bad: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", BAD_DATABASES[bad])
    for argv in DATABASE_COMMANDS:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
        assert "DATABASE_URL" in err, (argv, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--from", "yesterday", "--to", "2026-11-02"],
        ["import-scorecards", "--from", "2026-13-01"],
        ["agreement", "--to", "soon"],
        ["agreement", "--bootstrap", "-1"],
        ["token", "create", "--user", "a@b.example", "--days", "-5"],
        ["token", "create", "--user", "a@b.example", "--days", "0"],
        ["token", "create", "--user", "a@b.example", "--days", "5000"],
        ["calibrate", "--min-gap", "0"],
    ],
)
def test_bad_values_are_a_usage_error_not_a_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err


@pytest.mark.parametrize("value", ["a", "_", "%", "gong.io", "ann@", "ann@acme", ""])
def test_forget_refuses_what_is_not_an_address(
    value: str, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`forget --email a` listed (and with --yes erased) every call whose text has an `a`."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO calls (id, flags) VALUES ('1', '[{\"text\": \"gong.io: a_%\"}]')")
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["forget", "--email", value, "--yes"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: not an e-mail address") and err.count("\n") == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM calls").fetchone() == (1,)


def test_calibrate_without_a_rubrics_folder_is_one_line(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("RUBRICS_DIR", str(tmp_path / "nowhere"))
    assert main(["calibrate", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_analyze_without_settings_is_one_line_and_starts_no_prefect_server(
    tmp_path: Path,
) -> None:
    """Run as a user would, in a fresh process: a missing DATABASE_URL is one line, before any
    flow (and the temporary Prefect server a flow starts without PREFECT_API_URL)."""
    import os
    import subprocess
    import sys

    from common.config import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PREFECT_"))}
    env["HOME"] = str(tmp_path)  # a Prefect home of its own: nothing started there
    done = subprocess.run(
        [sys.executable, "-m", "functions.cli", "analyze", "7001001"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: DATABASE_URL is required")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / ".prefect").exists()


def test_token_days_are_bounded_and_zero_is_not_the_default(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg
    from psycopg.rows import dict_row

    from common import access
    from common.errors import InvalidRequest

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO users (id, email, name) VALUES ('u1', 'a@b.example', 'A')")
        for days in (-5, 0, 367):
            with pytest.raises(InvalidRequest, match="1 to 366"):
                access.create_token(conn, "u1", days=days)
        assert conn.execute("SELECT count(*) AS n FROM api_tokens").fetchone() == {"n": 0}


def run_cli(argv: list[str], env: dict[str, str], home: Path) -> Any:
    """`python -m functions.cli ARGV` in a fresh process, as a user runs it."""
    import os
    import subprocess
    import sys

    from common.config import ROOT

    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "PREFECT_"))}
    return subprocess.run(
        [sys.executable, "-m", "functions.cli", *argv],
        cwd=ROOT,
        env={**base, "HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_error_line(done: Any) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


def test_analyze_with_prefect_unreachable_is_one_line(db_url: str, tmp_path: Path) -> None:
    done = run_cli(
        ["analyze", "7001001"],
        {"DATABASE_URL": db_url, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
        tmp_path,
    )
    assert_one_error_line(done)
    assert "Prefect" in done.stderr and "127.0.0.1:9" in done.stderr


def test_a_failed_analysis_run_is_one_line(
    engine_env: Settings, claude_stand_in: tuple[Any, str], tmp_path: Path
) -> None:
    """The run starts on Prefect and fails inside (Gong does not know the call): Prefect's own
    log of the failure, with its traceback, is not printed; one line says what stopped it."""
    from prefect.settings import PREFECT_API_URL

    from tests.conftest import app_env

    env = {
        **app_env(engine_env, claude_stand_in[1]),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    done = run_cli(["analyze", "9999999"], env, tmp_path)
    assert_one_error_line(done)
    assert "9999999" in done.stderr


def test_validity_from_csv_prints_the_json_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.validity.worlds import world, write_csv

    path = write_csv(tmp_path / "scores.csv", world(seed=9, reps=10, deals_per_rep=15))
    assert main(["validity", "--from-csv", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["enough_deals", "deals", "won", "criteria"]
    assert out["enough_deals"] is True and out["deals"] == 150 and 0 < out["won"] < 150
    assert len(out["criteria"]) == 8
    for c in out["criteria"]:
        assert list(c) == [
            "dimension",
            "criterion",
            "odds_ratio",
            "ci_low",
            "ci_high",
            "q_value",
            "deals",
        ]
        assert c["ci_low"] < c["odds_ratio"] < c["ci_high"] and 0 <= c["q_value"] <= 1
    assert main(["validity", "--from-csv", str(path)]) == 0  # the table
    table = capsys.readouterr().out
    assert "planted" in table and "odds ratio" in table


def test_validity_with_too_few_deals_names_how_many_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.validity.worlds import world, write_csv

    path = write_csv(tmp_path / "scores.csv", world(seed=9, reps=6, deals_per_rep=10))
    assert main(["validity", "--from-csv", str(path), "--json", "--min-deals", "100"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out == {"enough_deals": False, "deals": 60, "won": out["won"], "criteria": []}
    assert "too few closed deals: 60 of 100, 40 more needed" in captured.err
    assert main(["validity", "--from-csv", str(path)]) == 0
    assert "too few closed deals: 60 of 100, 40 more needed" in capsys.readouterr().out


def test_validity_refuses_a_malformed_file_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scores.csv"
    path.write_text(
        "call_id,rep_id,deal_id,stage,outcome,dimension,criterion,score\n"
        "c1,r1,d1,discovery,won,discovery,pain,3\n"
        "c2,r1,d2,demo,maybe,discovery,pain,3\n",
        encoding="utf-8",
    )
    assert main(["validity", "--from-csv", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 3: outcome must be won or lost" in err


def test_validity_reads_the_projects_own_closed_deals_in_a_teams_scope(
    settings: Settings,
    team: Team,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    import psycopg
    from psycopg.rows import dict_row

    from common.deals import CallDeal, Snapshot, StageMap, record_call

    stages = StageMap.from_settings(settings)
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        for rep, outcome in [("u-r000", "Closed Won"), ("u-r002", "Closed Lost")]:
            for w in range(3):
                opp = f"006{rep}{w}"
                record_call(
                    conn,
                    f"c-{rep}-{w:02d}-0",
                    CallDeal("Salesforce", opp, now=Snapshot(name=opp, stage=outcome)),
                    stages,
                )
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert main(["validity", "--json", "--min-deals", "10"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["enough_deals"], out["deals"], out["won"]) == (False, 6, 3)
    assert main(["validity", "--json", "--min-deals", "10", "--team", "u-m1"]) == 0
    assert json.loads(capsys.readouterr().out)["deals"] == 0  # m0's reps' deals only
    monkeypatch.setenv("VALIDITY_MIN_DEALS", "4")
    assert main(["validity", "--team", "u-m0"]) == 0
    printed = capsys.readouterr().out
    assert "6 closed deals, 3 won" in printed and "talk_ratio" in printed


def test_compliance_pack_writes_every_part_for_the_period(
    settings: Settings,
    team: Team,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RUBRICS_DIR", str(settings.rubrics_dir))
    out = tmp_path / "pack"
    assert main(["compliance-pack", str(out), "--from", "2026-09-01", "--to", "2026-11-30"]) == 0
    written = {Path(p).name for p in json.loads(capsys.readouterr().out)["written"]}
    assert {"notice.md", "oversight.md", "scope.md", "pack.html"} <= written
    assert "2026-09-01" in (out / "oversight.md").read_text(encoding="utf-8")
    assert main(["compliance-pack", str(out), "--from", "2026-12-01", "--to", "2026-11-30"]) == 2


def test_coaching_effect_finds_the_sample_historys_planted_lift(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import psycopg
    from psycopg.rows import dict_row

    from local.sample_history import COACHING_LIFT, seed_history

    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        history = seed_history(conn)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["coaching-effect", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["enough_events"] and out["usable_events"] <= history.events
    assert out["ci_low"] < COACHING_LIFT < out["ci_high"] and out["ci_low"] > 0
    assert main(["coaching-effect", "--min-events", "500"]) == 0
    assert "too few coaching events" in capsys.readouterr().out
    assert main(["coaching-effect", "--team", "u-nobody"]) == 2
