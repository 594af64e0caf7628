from __future__ import annotations

from pathlib import Path

import pytest

from common.config import DIMENSIONS, ROOT
from common.errors import RubricError
from common.scoring.applicability import CallFacts, load

RULES = load(ROOT / "rubrics")


def facts(**over: object) -> CallFacts:
    base: dict[str, object] = {
        "title": "Acme - Discovery",
        "scope": "External",
        "system": "Zoom",
        "direction": "Conference",
        "language": "eng",
        "duration_s": 1800,
        "words": 4000,
        "rep_id": "2003",
        "managers": frozenset({"2002"}),
    }
    return CallFacts(**(base | over))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"scope": "Internal"}, "internal meeting (Gong scope Internal)"),
        ({"duration_s": 120}, "shorter than 4 minutes"),
        ({"words": 60}, "fewer than 100 words"),
        ({"title": "Weekly Stand-up"}, "not a customer conversation (title)"),
    ],
)
def test_the_shipped_rules_skip_what_peers_skip(over: dict[str, object], reason: str) -> None:
    assert RULES.decide(facts(**over)).skipped == reason


def test_call_types_choose_the_dimensions() -> None:
    sales = RULES.decide(facts())
    assert (sales.call_type, sales.dimensions, sales.skipped) == ("sales", list(DIMENSIONS), None)
    renewal = RULES.decide(facts(title="Umbrella Health - Renewal check-in"))
    assert renewal.call_type == "renewal" and "discovery" not in renewal.dimensions
    workshop = RULES.decide(facts(title="Hooli - Full-day onboarding workshop"))
    assert workshop.call_type == "onboarding" and "objections" not in workshop.dimensions
    assert RULES.dimensions_of("renewal") == renewal.dimensions
    assert RULES.dimensions_of(None) == list(DIMENSIONS)  # a call no run has typed yet
    # an unknown duration is not "short"
    assert RULES.decide(facts(duration_s=None)).skipped is None


def test_users_and_teams_match_anywhere_under_a_manager(tmp_path: Path) -> None:
    (tmp_path / "applicability.yaml").write_text(
        "version: 1.0.0\n"
        "skip:\n"
        "  - {reason: 'SDR team: scored in Gong', teams: ['m-sdr']}\n"
        "  - {reason: 'trainee', users: ['r-9']}\n"
        "call_types:\n"
        "  - {name: german, languages: [deu], dimensions: [discovery]}\n"
    )
    rules = load(tmp_path)
    assert rules.decide(facts(managers=frozenset({"m-lead", "m-sdr"}))).skipped
    assert rules.decide(facts(rep_id="r-9")).skipped == "trainee"
    assert rules.decide(facts()).skipped is None
    german = rules.decide(facts(language="deu"))
    assert (german.call_type, german.dimensions) == ("german", ["discovery"])
    assert rules.decide(facts()).call_type == "sales"  # the built-in default: every dimension


@pytest.mark.parametrize(
    "text",
    [
        "version: 1.0.0\ncall_types:\n  - {name: x, dimensions: [closing]}\n",
        "version: 1.0.0\nskip:\n  - {reason: r, title_matches: '(unclosed'}\n",
        "version: 1.0.0\nskip:\n  - {reason: r, scopes: [Internal]}\n",  # a misspelt condition
    ],
)
def test_a_bad_rules_file_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "applicability.yaml").write_text(text)
    with pytest.raises(RubricError, match="invalid applicability"):
        load(tmp_path)


def test_a_call_type_may_name_a_rubric_variant_that_must_exist(tmp_path: Path) -> None:
    from common.rubrics import load as load_rubrics

    rubrics = load_rubrics(ROOT / "rubrics")
    RULES.check_variants(rubrics)  # the shipped rules name shipped variants
    onboarding = RULES.decide(facts(title="Kick-off and onboarding"))
    assert onboarding.variants == {"discovery": "discovery_onboarding"}
    variant = rubrics.rubric_for("discovery", "discovery_onboarding")
    assert variant.dimension == "discovery" and variant.title == "Discovery (onboarding)"
    assert rubrics.rubric_version("discovery", "discovery_onboarding").endswith(
        "+variant.discovery_onboarding"
    )
    assert rubrics.rubric_version("discovery") != rubrics.rubric_version(
        "discovery", "discovery_onboarding"
    )
    (tmp_path / "applicability.yaml").write_text(
        "version: 1.0.0\ncall_types:\n"
        "  - {name: demo, dimensions: [engagement], rubrics: {engagement: discovery_onboarding}}\n"
    )
    with pytest.raises(RubricError, match="not a rubric of that dimension"):
        load(tmp_path).check_variants(rubrics)


def test_without_a_file_every_call_is_scored_on_every_dimension(tmp_path: Path) -> None:
    decision = load(tmp_path).decide(facts(scope="Internal", words=3))
    assert decision.skipped is None and decision.dimensions == list(DIMENSIONS)
