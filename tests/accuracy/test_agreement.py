"""Agreement metrics on hand-made pairs with known answers, and the CSV mode of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.accuracy.agreement import (
    PairsFileError,
    bias,
    exact,
    krippendorff_alpha,
    qwk,
    read_pairs,
    summary,
    within_one,
)
from functions.cli import main

# Cohen's textbook 2x2 table (Wikipedia, "Cohen's kappa"): 20 yes/yes, 5 yes/no, 10 no/yes,
# 15 no/no. p_o = 0.7, p_e = 0.5, kappa = 0.4. With two categories every weighting gives the
# unweighted kappa, and Krippendorff's alpha is 1 - 99 x 30 / (2 x 55 x 45) = 0.4.
TEXTBOOK = [(1, 1)] * 20 + [(1, 2)] * 5 + [(2, 1)] * 10 + [(2, 2)] * 15


def test_perfect_agreement() -> None:
    pairs = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (3, 3)]
    assert exact(pairs) == within_one(pairs) == 1.0 and bias(pairs) == 0.0
    assert qwk(pairs) == pytest.approx(1.0)
    assert krippendorff_alpha(pairs) == pytest.approx(1.0)


def test_the_textbook_confusion_matrix() -> None:
    assert exact(TEXTBOOK) == pytest.approx(0.7)
    assert within_one(TEXTBOOK) == 1.0
    assert bias(TEXTBOOK) == pytest.approx((10 - 5) / 50)  # AI a point higher 10 times, lower 5
    assert qwk(TEXTBOOK) == pytest.approx(0.4)
    assert krippendorff_alpha(TEXTBOOK) == pytest.approx(0.4)


def test_quadratic_weights_punish_distance() -> None:
    near = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 4)]
    far = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 1)]
    assert exact(near) == exact(far)
    assert qwk(near) > 0.9 > 0.3 > qwk(far)  # type: ignore[operator]
    assert qwk([(1, 5), (5, 1), (2, 4), (4, 2)]) < 0  # systematic reversal: worse than chance


def test_constant_raters() -> None:
    same = [(3, 3)] * 10
    assert exact(same) == 1.0 and qwk(same) is None and krippendorff_alpha(same) is None
    apart = [(3, 4)] * 10  # always one point apart: kappa says no better than chance
    assert exact(apart) == 0.0 and within_one(apart) == 1.0 and bias(apart) == -1.0
    assert qwk(apart) == pytest.approx(0.0)


def test_a_single_pair() -> None:
    result = summary([(4, 2)], bootstrap=200)
    assert result["n"] == 1 and result["exact"] == 0.0 and result["bias"] == 2.0
    assert result["qwk"] == 0.0  # p_o = p_e = 0: no better than chance
    assert result["krippendorff_alpha"] is None  # needs two units
    assert result["ci"]["exact"] == [0.0, 0.0] and result["ci"]["krippendorff_alpha"] is None
    agreeing = summary([(3, 3)], bootstrap=200)
    assert agreeing["exact"] == 1.0 and agreeing["qwk"] is None  # nothing to correct for


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_pairs() -> None:
    small, large = summary(TEXTBOOK[::5], 500), summary(TEXTBOOK * 4, 500)
    for result in (small, large):
        lo, hi = result["ci"]["exact"]
        assert lo <= result["exact"] <= hi
    width = {k: r["ci"]["qwk"][1] - r["ci"]["qwk"][0] for k, r in (("s", small), ("l", large))}
    assert width["l"] < width["s"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    return path


def test_csv_mode_prints_overall_and_by_dimension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["call_id,dimension,criterion,ai_score,manager_score"]
    rows += [f"c{i},discovery,overall,{a},{h}" for i, (a, h) in enumerate(TEXTBOOK)]
    rows += ["x1,objections,reframing,5,5", "x2,objections,overall,2,3"]
    assert main(["agreement", "--pairs", str(write(tmp_path, "\n".join(rows))), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["overall"]["n"] == 52
    discovery = result["by_dimension"]["discovery"]
    assert discovery["n"] == 50 and discovery["exact"] == 0.7 and discovery["qwk"] == 0.4
    assert discovery["krippendorff_alpha"] == 0.4
    objections = result["by_dimension"]["objections"]
    assert objections == {**objections, "n": 2, "exact": 0.5, "within_one": 1.0, "bias": -0.5}
    for key in ("n", "exact", "within_one", "bias", "qwk", "krippendorff_alpha"):
        assert isinstance(result["overall"][key], int | float)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("call_id,dimension,ai_score,manager_score\n", "line 1: the header"),
        (
            "call_id,dimension,criterion,ai_score,manager_score\nc1,discovery,overall,6,3\n",
            "line 2: ai_score must be a whole number 1-5, got '6'",
        ),
        (
            "call_id,dimension,criterion,ai_score,manager_score\nc1,discovery,overall,3,3\n"
            "c2,discovery,overall,3.5,3\n",
            "line 3: ai_score",
        ),
        (
            "call_id,dimension,criterion,ai_score,manager_score\nc1,discovery,3,3\n",
            "line 2: expected 5 fields",
        ),
        (
            "call_id,dimension,criterion,ai_score,manager_score\nc1,,overall,3,n/a\n",
            "line 2: call_id, dimension and criterion are required",
        ),
    ],
)
def test_a_malformed_row_is_an_error_naming_its_line(
    tmp_path: Path, body: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(PairsFileError, match=message):
        read_pairs(path)
    assert main(["agreement", "--pairs", str(path), "--json"]) == 2
    assert message in capsys.readouterr().err


def test_table_metrics_agree_with_the_per_pair_functions() -> None:
    """The vectorised bootstrap computes each metric from count tables: same numbers."""
    import random

    import numpy as np

    from common.accuracy.agreement import FUNCTIONS, table_metrics

    rng = random.Random(11)
    for trial in range(40):
        n = rng.randint(2, 60)
        pairs = [(rng.randint(1, 5), rng.randint(1, 5)) for _ in range(n)]
        if trial % 5 == 0:  # near-agreement, one-sided and degenerate sets too
            pairs = [(a, min(5, a + rng.randint(0, 1))) for a, _ in pairs]
        table = np.zeros((1, 5, 5))
        for a, h in pairs:
            table[0, a - 1, h - 1] += 1
        got = table_metrics(table)
        for name, fn in FUNCTIONS.items():
            want = fn(pairs)
            value = float(got[name][0])
            if want is None:
                assert np.isnan(value), (name, pairs)
            else:
                assert value == pytest.approx(want, abs=1e-9), (name, pairs)
