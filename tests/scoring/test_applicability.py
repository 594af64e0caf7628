from __future__ import annotations

from pathlib import Path

import pytest

from common.config import DIMENSIONS, ROOT
from common.errors import RubricError
from common.scoring.applicability import Applicability, CallFacts, load

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
        (
            {"title": "Weekly Stand-up"},
            "internal team meeting or stand-up (title, no customer speaking)",
        ),
    ],
)
def test_the_shipped_rules_skip_what_peers_skip(over: dict[str, object], reason: str) -> None:
    assert RULES.decide(facts(**over)).skipped == reason


def test_call_types_choose_the_dimensions() -> None:
    discovery = RULES.decide(facts())
    assert (discovery.call_type, discovery.dimensions, discovery.skipped) == (
        "discovery",
        list(DIMENSIONS),
        None,
    )
    assert RULES.decide(facts(title="Initech - Commercials")).call_type == "sales"
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
        "version: 1.0.0\nskip:\n  - {reason: r, title_excludes: [ok, '(bad']}\n",
        "version: 1.0.0\nskip:\n  - {reason: r, title_matches_all: [ok, ['x', '[bad']]}\n",
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


# -- the table the shipped rules are held to ------------------------------------------------
# (title, expected, external speakers, Gong scope). Expected is a call type, or "skip: <word
# in the reason>". Internal meetings come with no customer speaking and a scope Gong could not
# tell (a dial-in, an invite to an outside address); interviews with the candidate speaking.
INTERNAL = (0, "Unknown")
CANDIDATE = (1, "External")
TITLES: list[tuple[str, str, int | None, str]] = [
    # one-to-ones
    ("Weekly 1on1 Dana/Maya", "skip: one-to-one", *INTERNAL),
    ("Dana / Maya 1:1", "skip: one-to-one", *INTERNAL),
    ("1-on-1 Tom & Priya", "skip: one-to-one", *INTERNAL),
    ("One-on-one: pipeline coaching", "skip: one-to-one", *INTERNAL),
    ("Jour fixe", "skip: one-to-one", *INTERNAL),
    ("Jour Fixe Vertrieb Nord", "skip: one-to-one", *INTERNAL),
    ("Mitarbeitergespräch Q4 - Jonas", "skip: one-to-one", *INTERNAL),
    ("1on1 ミーティング", "skip: one-to-one", *INTERNAL),
    ("田中さんとの1on1", "skip: one-to-one", *INTERNAL),
    # stand-ups and team meetings
    ("Weekly Stand-up", "skip: team meeting", *INTERNAL),
    ("Sales team daily standup", "skip: team meeting", *INTERNAL),
    ("Daily Scrum - Team Nord", "skip: team meeting", *INTERNAL),
    ("All-hands: Q4 kickoff", "skip: team meeting", *INTERNAL),
    ("Interne Abstimmung Vertriebsteam", "skip: team meeting", *INTERNAL),
    ("Teambesprechung Vertrieb", "skip: team meeting", *INTERNAL),
    ("Wöchentliche Vertriebsrunde", "skip: team meeting", *INTERNAL),
    ("Weekly team sync", "skip: team meeting", *INTERNAL),
    ("朝会", "skip: team meeting", *INTERNAL),
    ("営業チーム定例", "skip: team meeting", *INTERNAL),
    ("社内ミーティング（営業）", "skip: team meeting", *INTERNAL),  # noqa: RUF001
    ("Pipeline review - Team West", "skip: team meeting", *INTERNAL),
    ("Forecast call Q4", "skip: team meeting", *INTERNAL),
    # candidate interviews
    ("Candidate interview - Senior AE", "skip: candidate interview", *CANDIDATE),
    ("Interview: Jane Doe for Account Executive role", "skip: candidate interview", *CANDIDATE),
    ("Candidate interview - Customer Success Manager", "skip: candidate interview", *CANDIDATE),
    ("Phone screen - Alex Kim", "skip: candidate interview", *CANDIDATE),
    ("Vorstellungsgespräch Max Mustermann", "skip: candidate interview", *CANDIDATE),
    ("Bewerbungsgespräch - Vertriebsmitarbeiterin", "skip: candidate interview", *CANDIDATE),
    ("一次面接 山田様", "skip: candidate interview", *CANDIDATE),
    ("契約社員 面接 - 佐藤様", "skip: candidate interview", *CANDIDATE),
    # sales calls that mention an interview, a stand-up or a one-to-one
    ("Customer interview - Acme (discovery)", "discovery", 1, "External"),
    ("Kundeninterview Müller GmbH", "discovery", 1, "External"),
    ("Acme discovery - their daily stand-up process", "discovery", 2, "External"),
    ("Demo: Standup bot for Globex", "demo", 1, "External"),
    ("Demo for Acme's recruiting team: candidate pipeline", "demo", 2, "External"),
    ("採用管理システムのデモ - ABC商事", "demo", 1, "External"),
    ("Interview - Jane Doe", "sales", 1, "External"),  # one weak word does not skip
    ("Initech 1:1 with their CFO", "sales", 1, "External"),  # a customer speaks
    ("Jour fixe Projekt Acme", "sales", 3, "External"),
    ("Weekly stand-up with the Hooli implementation team", "sales", 2, "External"),
    # renewals and QBRs: an existing customer, not a new sale
    ("Vertragsverlängerung Acme", "renewal", 1, "External"),
    ("Lizenzverlängerung Globex 2027", "renewal", 1, "External"),
    ("契約更新のご相談 - ヤマト物流", "renewal", 1, "External"),
    ("契約更新", "renewal", 1, "External"),
    ("Acme renewal 2027", "renewal", 1, "External"),
    ("Umbrella Health - Renewal check-in", "renewal", 1, "External"),
    ("Globex QBR Q3", "renewal", 2, "External"),
    ("Quarterly business review - Initech", "renewal", 2, "External"),
    ("Quartalsgespräch Müller Maschinenbau", "renewal", 1, "External"),
    ("四半期ビジネスレビュー（QBR）", "renewal", 1, "External"),  # noqa: RUF001
    ("Verlängerung der Testphase - Acme", "sales", 1, "External"),  # a trial, not a renewal
    # workshops and onboarding
    ("Hooli - Full-day onboarding workshop", "onboarding", 3, "External"),
    ("Onboarding-Workshop Müller GmbH", "onboarding", 2, "External"),
    ("Schulung Admin-Konsole - Globex", "onboarding", 2, "External"),
    ("導入キックオフ - ABC商事", "onboarding", 2, "External"),
    ("Discovery workshop - Acme", "discovery", 2, "External"),
    # demos and discovery
    ("Globex - Platform demo", "demo", 1, "External"),
    ("Produktvorführung Beacon - Müller GmbH", "demo", 1, "External"),
    ("デモ - 株式会社サンプル", "demo", 1, "External"),
    ("Acme Logistics - Discovery", "discovery", 1, "External"),
    ("Müller Maschinenbau - Erstgespräch", "discovery", 1, "External"),
    ("Bedarfsanalyse Stadtwerke Nord", "discovery", 1, "External"),
    ("ヤマト物流 - 初回ヒアリング", "discovery", 1, "External"),
    ("Initech - Commercials and negotiation", "sales", 1, "External"),
]


def classify(rules: Applicability, title: str, external: int | None, scope: str) -> str:
    """A row's outcome as the table writes it."""
    decision = rules.decide(facts(title=title, external_speakers=external, scope=scope))
    return f"skip: {decision.skipped}" if decision.skipped else decision.call_type


def matches(got: str, expected: str) -> bool:
    if expected.startswith("skip: "):
        return got.startswith("skip: ") and expected[6:] in got
    return got == expected


def test_the_table_covers_three_languages_and_both_ways() -> None:
    japanese = [t for t, *_ in TITLES if any("\u3040" <= ch <= "\u9fff" for ch in t)]
    german = [t for t, *_ in TITLES if any(ch in "äöüß" for ch in t.lower()) or "Jour" in t]
    skipped = [t for t, expected, *_ in TITLES if expected.startswith("skip")]
    assert len(TITLES) >= 40 and len(japanese) >= 10 and len(german) >= 10
    assert 15 <= len(skipped) <= len(TITLES) - 15


@pytest.mark.parametrize(("title", "expected", "external", "scope"), TITLES)
def test_the_shipped_rules_classify_the_table(
    title: str, expected: str, external: int | None, scope: str
) -> None:
    got = classify(RULES, title, external, scope)
    assert matches(got, expected), f"{title!r}: {got}, expected {expected}"


def test_a_customer_speaking_keeps_an_internal_title_scored() -> None:
    """The same one-to-one and stand-up titles are scored once a customer speaks in them;
    when the transcript's speakers are unknown the title (and its sales words) decide."""
    for title in ("Weekly 1on1 Dana/Maya", "Jour fixe", "Weekly Stand-up", "朝会"):
        assert RULES.decide(facts(title=title, external_speakers=0)).skipped
        assert RULES.decide(facts(title=title, external_speakers=None)).skipped
        assert RULES.decide(facts(title=title, external_speakers=1)).skipped is None
    # an interview's candidate is external: the speakers cannot tell it from a customer
    assert RULES.decide(facts(title="Vorstellungsgespräch", external_speakers=1)).skipped


def test_two_weak_words_skip_where_one_does_not(tmp_path: Path) -> None:
    (tmp_path / "applicability.yaml").write_text(
        "version: 1.0.0\n"
        "skip:\n"
        "  - reason: r\n"
        "    title_matches_all: [interview, ['round', 'runde']]\n"
        "    title_excludes: [discovery, demo]\n"
    )
    rules = load(tmp_path)
    assert rules.decide(facts(title="Interview - second round")).skipped == "r"
    assert rules.decide(facts(title="Interview Runde 2")).skipped == "r"
    assert rules.decide(facts(title="Interview - Jane")).skipped is None
    assert rules.decide(facts(title="Discovery interview, round 2")).skipped is None
    assert rules.decide(facts(title="ＩＮＴＥＲＶＩＥＷ round 2")).skipped == "r"  # noqa: RUF001 (full-width)


def _with_role_variants(tmp_path: Path, *variants: tuple[str, str, str]) -> Path:
    """A copy of rubrics/ with variants (file name, dimension, roles) of the dimension's own
    rubric, renamed and versioned 1.0.0."""
    import shutil

    import yaml

    folder = tmp_path / "rubrics"
    shutil.copytree(ROOT / "rubrics", folder)
    for name, dimension, roles in variants:
        data = yaml.safe_load((folder / f"{dimension}.yaml").read_text())
        data |= {"version": "1.0.0", "title": f"{data['title']} ({roles})", "roles": [roles]}
        (folder / "variants" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return folder


def test_a_variant_naming_a_role_scores_that_roles_calls_on_its_own_version(
    tmp_path: Path,
) -> None:
    from common.rubrics import load as load_rubrics

    rubrics = load_rubrics(
        _with_role_variants(
            tmp_path,
            ("product_knowledge_se", "product_knowledge", "se"),
            ("discovery_se", "discovery", "se"),
        )
    )
    RULES.check_variants(rubrics)
    se = RULES.decide(facts(job_role="se"), rubrics)
    ae = RULES.decide(facts(job_role="ae"), rubrics)
    assert se.variants == {"product_knowledge": "product_knowledge_se", "discovery": "discovery_se"}
    assert ae.variants == {} and (se.job_role, ae.job_role) == ("se", "ae")
    assert RULES.decide(facts(job_role="se")).variants == {}  # no rubrics given: none by role
    # a call type's variant comes first; the role's for the other dimensions
    workshop = RULES.decide(facts(title="Kick-off and onboarding", job_role="se"), rubrics)
    assert workshop.variants == {
        "discovery": "discovery_onboarding",
        "product_knowledge": "product_knowledge_se",
    }
    # a different rubric for the role is a different rubric version: never the AE's cache key
    base, for_se = (
        rubrics.rubric_version("product_knowledge"),
        rubrics.rubric_version("product_knowledge", "product_knowledge_se"),
    )
    assert base != for_se and for_se.endswith("+variant.product_knowledge_se")


def test_one_variant_per_role_and_dimension_and_none_for_both_a_type_and_roles(
    tmp_path: Path,
) -> None:
    from common.rubrics import load as load_rubrics

    twice = _with_role_variants(
        tmp_path, ("engagement_se", "engagement", "se"), ("engagement_se2", "engagement", "se")
    )
    with pytest.raises(RubricError, match="both score engagement for the job role 'se'"):
        load_rubrics(twice)
    (twice / "variants" / "engagement_se2.yaml").unlink()
    rubrics = load_rubrics(twice)
    (tmp_path / "applicability.yaml").write_text(
        "version: 1.0.0\ncall_types:\n"
        "  - {name: demo, dimensions: [engagement], rubrics: {engagement: engagement_se}}\n"
    )
    with pytest.raises(RubricError, match="for a call type or for roles, not both"):
        load(tmp_path).check_variants(rubrics)
