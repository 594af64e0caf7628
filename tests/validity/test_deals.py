"""Reading the scores CSV, and deals as the unit: a deal's criterion averaged over its calls,
with its stages, and the same criterion held apart from the stage each call was at."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.validity import ValidityFileError, deals, read_rows

HEADER = "call_id,rep_id,deal_id,stage,outcome,dimension,criterion,score\n"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scores.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_a_deal_averages_its_calls_and_shares_its_stages(tmp_path: Path) -> None:
    rows = read_rows(
        write(
            tmp_path,
            "c1,r1,d1,discovery,won,discovery,pain,2\n"
            "c2,r1,d1,demo,won,discovery,pain,4\n"
            "c2,r1,d1,demo,won,discovery,overall,3\n"
            "c3,r1,d2,demo,lost,discovery,pain,5\n"
            "\n"
            "c4,r2,d3,discovery,lost,discovery,pain,\n",
        )
    )
    by_id = {d.deal_id: d for d in deals(rows)}
    assert set(by_id) == {"d1", "d2", "d3"}  # d3's only score is N/A (blank): a deal still
    d1 = by_id["d1"]
    assert d1.won and d1.rep_id == "r1"
    assert d1.scores == {("discovery", "pain"): 3.0, ("discovery", "overall"): 3.0}
    assert d1.stages == {"discovery": 0.5, "demo": 0.5}
    # pain at discovery averages 2 (c1 only), at demo (4 + 5) / 2: d1 is (2-2 + 4-4.5) / 2
    assert d1.within_stage[("discovery", "pain")] == pytest.approx(-0.25)
    assert not by_id["d2"].won and by_id["d3"].scores == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("c1,r1,d1,discovery,open,discovery,pain,3\n", "line 2: outcome must be won or lost"),
        ("c1,r1,d1,discovery,won,discovery,pain,high\n", "line 2: score must be a number"),
        ("c1,r1,d1,discovery,won,discovery,pain,nan\n", "line 2: score must be a number"),
        ("c1,r1,d1,discovery,won,discovery\n", "line 2: expected 8 fields, got 6"),
        (",r1,d1,discovery,won,discovery,pain,3\n", "line 2: call_id"),
        (
            "c1,r1,d1,discovery,won,discovery,pain,3\nc2,r2,d1,demo,won,discovery,pain,3\n",
            "line 3: deal d1 is rep r1's on an earlier line",
        ),
        (
            "c1,r1,d1,discovery,won,discovery,pain,3\nc2,r1,d1,demo,lost,discovery,pain,3\n",
            "line 3: deal d1 is won on an earlier line",
        ),
        (
            "c1,r1,d1,discovery,won,discovery,pain,3\nc1,r1,d1,demo,won,discovery,talk,3\n",
            "line 3: call c1 is at stage discovery on an earlier line",
        ),
        (
            "c1,r1,d1,discovery,won,discovery,pain,3\nc1,r1,d2,discovery,won,discovery,talk,3\n",
            "line 3: call c1 is in deal d1 on an earlier line",
        ),
    ],
)
def test_a_malformed_file_is_refused_naming_its_line(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ValidityFileError, match=message):
        read_rows(write(tmp_path, body))


def test_a_wrong_header_is_line_one(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("call_id,deal_id,score\nc1,d1,3\n", encoding="utf-8")
    with pytest.raises(ValidityFileError, match="line 1: the header must be call_id,rep_id"):
        read_rows(path)
