from __future__ import annotations

from common.calls.transcript import Speaker, Utterance
from common.config import ROOT
from common.rubrics import load
from common.scoring.analysis import (
    ChunkResult,
    CriterionAssessment,
    DimensionAssessment,
    DimensionResult,
    Evidence,
    GroundedEvidence,
    Grounder,
    WrongSpeaker,
    aggregate,
    check_against_rubric,
)

RUBRICS = load(ROOT / "rubrics").rubrics
RUBRIC = RUBRICS["objections"]
REP = Speaker("1", "Dana Lee", "AE", True)
BUYER = Speaker("2", "Sam Ortiz", "CFO", False)
UTTS = [
    Utterance(
        REP, 61_000, 70_000, ("I hear you on price.", "Can I ask what you're comparing it against?")
    ),
    Utterance(BUYER, 80_000, 90_000, ("Honestly the price is the whole problem for us.",)),
    Utterance(REP, 3_700_000, 3_710_000, ("Let's agree on the steps and owners now.",)),
]
GROUNDER = Grounder(UTTS, "https://app.gong.io/call?id=42", "{call_url}&t={seconds}")


def rep(quote: str) -> Evidence:
    return Evidence(quote=quote, timestamp="00:00", said_by="rep")


def assessment(
    score: int | None, quotes: list[str], overall: int | None = None, dimension: str = "objections"
) -> DimensionAssessment:
    return DimensionAssessment(
        overall_score=overall if overall is not None else score,
        criteria=[
            CriterionAssessment(
                criterion_id=c.id,
                score=score,
                rationale=f"r{score}",
                evidence=[rep(q) for q in quotes],
            )
            for c in RUBRICS[dimension].criteria
        ],
        strengths=["Acknowledged the concern"],
        improvements=["Trade concessions"],
        coaching_note="n",
    )


def test_quotes_are_grounded_with_our_speaker_time_and_link() -> None:
    found = GROUNDER.check(rep("can i ask what YOU'RE comparing it against"))
    assert isinstance(found, GroundedEvidence)
    assert (found.speaker, found.timestamp, found.start_s) == ("Dana Lee", "01:01", 61)
    assert found.link == "https://app.gong.io/call?id=42&t=61" and found.said_by == "rep"
    assert GROUNDER.check(rep("We guarantee a 40% uplift")) is None
    assert GROUNDER.check(rep("price")) is None  # too short to prove anything


def test_a_quote_in_the_wrong_mouth_is_not_evidence() -> None:
    customer_line = "the price is the whole problem for us"
    claimed_by_rep = GROUNDER.check(rep(customer_line))
    assert isinstance(claimed_by_rep, WrongSpeaker)
    said = Evidence(quote=customer_line, timestamp="01:20", said_by="customer")
    found = GROUNDER.check(said)
    assert isinstance(found, GroundedEvidence) and found.speaker == "Sam Ortiz"
    # a criterion that needs the rep's own words refuses the customer's, even named rightly
    assert isinstance(GROUNDER.check(said, rep_only=True), WrongSpeaker)


def test_a_speaker_gong_does_not_place_counts_as_either_side() -> None:
    unknown = Speaker("3", "Dial-in", None, None)
    grounder = Grounder(
        [Utterance(unknown, 0, 1000, ("We can start the pilot next week.",))], None, ""
    )
    found = grounder.check(rep("start the pilot next week"))
    assert isinstance(found, GroundedEvidence) and found.link is None


def test_aggregate_weights_by_coverage_and_counts_overlap_evidence_once() -> None:
    shared = "Let's agree on the steps and owners now."
    parts = [
        ChunkResult(assessment(2, ["I hear you on price.", shared]), weight=3),
        ChunkResult(assessment(5, [shared, "A sentence nobody said at all."]), weight=1),
    ]
    result = aggregate("objections", RUBRIC, parts, GROUNDER)
    # every criterion 2.75 by coverage but next_steps, once per call: its best part's 5
    assert result.overall_score == 3.2 and result.chunks == 2
    crit = result.criteria[0]
    assert crit.score == 2.75 and crit.rationale == "r2"
    assert [e.quote for e in crit.evidence] == ["I hear you on price.", shared]
    assert result.quotes_dropped == len(RUBRIC.criteria)  # the invented quote, once per criterion
    assert result.quotes_wrong_speaker == 0
    assert result.strengths == ["Acknowledged the concern"]
    assert result.weighted_score == 3.2


def test_wrong_mouth_quotes_are_dropped_and_counted() -> None:
    parts = [ChunkResult(assessment(3, ["the price is the whole problem for us"]), weight=1)]
    result = aggregate("objections", RUBRIC, parts, GROUNDER)
    assert all(c.evidence == [] for c in result.criteria)
    assert result.quotes_dropped == result.quotes_wrong_speaker == len(RUBRIC.criteria)


def test_a_criterion_na_in_one_part_is_left_out_not_averaged_in() -> None:
    """Discovery in the first hour of a workshop, none in the fourth: the fourth part's N/A
    does not pull the first part's score down, and N/A everywhere stays N/A."""
    rubric = RUBRICS["discovery"]
    first = assessment(4, [], dimension="discovery")
    fourth = assessment(2, [], dimension="discovery")
    fourth.criteria[2].score = None  # decision_process: the rubric allows N/A
    result = aggregate(
        "discovery", rubric, [ChunkResult(first, 1), ChunkResult(fourth, 3)], GROUNDER
    )
    by_id = {c.criterion_id: c.score for c in result.criteria}
    assert by_id["decision_process"] == 4.0  # the first part alone
    assert by_id["open_questions"] == 2.5  # scored in both: weighted by coverage
    first.criteria[2].score = None
    result = aggregate(
        "discovery", rubric, [ChunkResult(first, 1), ChunkResult(fourth, 3)], GROUNDER
    )
    by_id = {c.criterion_id: c.score for c in result.criteria}
    assert by_id["decision_process"] is None
    # the weighted score re-weights the criteria that were scored
    scored = [c for c in result.criteria if c.score is not None]
    expected = sum(c.score * c.weight for c in scored) / sum(c.weight for c in scored)  # type: ignore[operator,misc]
    assert result.weighted_score == round(expected, 2)


def test_a_dimension_na_in_every_part_is_na_and_in_one_part_is_the_others() -> None:
    na = assessment(None, [], overall=None)
    scored = assessment(3, [])
    alone = aggregate("objections", RUBRIC, [ChunkResult(na, 2)], GROUNDER)
    assert alone.not_applicable and alone.weighted_score is None
    assert all(c.score is None for c in alone.criteria)
    mixed = aggregate("objections", RUBRIC, [ChunkResult(na, 2), ChunkResult(scored, 1)], GROUNDER)
    assert mixed.overall_score == 3.0 and not mixed.not_applicable


def test_rubric_check_demands_each_criterion_once() -> None:
    good = assessment(3, [])
    assert check_against_rubric(good, RUBRIC) == []
    bad = good.model_copy(update={"criteria": [*good.criteria[:-1], good.criteria[0]]})
    assert "each once" in check_against_rubric(bad, RUBRIC)[0]


def test_rubric_check_allows_na_only_where_the_rubric_does() -> None:
    engagement = RUBRICS["engagement"]  # no N/A rule anywhere
    assert (
        "cannot be N/A"
        in check_against_rubric(
            assessment(None, [], overall=None, dimension="engagement"), engagement
        )[0]
    )
    one = assessment(3, [], dimension="engagement")
    one.criteria[0].score = None
    assert "never allows" in check_against_rubric(one, engagement)[0]
    assert check_against_rubric(assessment(None, [], overall=None), RUBRIC) == []
    half = assessment(None, [], overall=None)
    half.criteria[0].score = 3
    assert "some criteria are scored" in check_against_rubric(half, RUBRIC)[0]
    discovery = assessment(3, [], dimension="discovery")
    discovery.criteria[2].score = None  # decision_process may be N/A
    assert check_against_rubric(discovery, RUBRICS["discovery"]) == []


def test_quotes_in_scripts_without_spaces_and_full_width_punctuation_are_grounded() -> None:
    jp = Speaker("9", "佐藤 健", "部長", False)
    grounder = Grounder(
        [
            Utterance(
                jp,
                5000,
                9000,
                ("正直なところ、リリースの効果がわかるまでに二週間ほどかかっています。",),
            )
        ],
        None,
        "",
    )
    said = Evidence(
        quote="正直なところリリースの効果がわかるまでに二週間",
        timestamp="00:05",
        said_by="customer",
    )
    found = grounder.check(said)  # the model dropped the comma: still the same words
    assert isinstance(found, GroundedEvidence) and found.speaker == "佐藤 健"
    german = Grounder(
        [Utterance(REP, 0, 1000, ("Der Preis liegt dreißig Prozent darüber.",))], None, ""
    )
    assert isinstance(
        german.check(rep("der preis liegt DREISSIG prozent")), GroundedEvidence
    )  # ß = ss, as the model may write it
    assert isinstance(german.check(rep("Der Preis liegt dreißig Prozent")), GroundedEvidence)


def _line(text: str, speaker: Speaker = REP) -> Grounder:
    return Grounder([Utterance(speaker, 0, 1000, (text,))], None, "")


def _grounded(grounder: Grounder, quote: str, rep_only: bool = False) -> str | None:
    """The stored quote when `quote` grounds, else None."""
    found = grounder.check(rep(quote), rep_only=rep_only)
    return found.quote if isinstance(found, GroundedEvidence) else None


def test_a_grounded_quote_is_stored_as_the_transcripts_own_words() -> None:
    """The model's string is only a pointer: what is stored (and shown as the rep's words)
    is the matched span of the line, in the transcript's case, apostrophes and spelling."""
    assert _grounded(GROUNDER, "i hear YOU on price.") == "I hear you on price."
    assert (
        _grounded(GROUNDER, "can i ask what you\u2019re comparing it against")
        == "Can I ask what you're comparing it against"
    )  # no trailing mark in the quote: none taken from the line
    german = _line("Der Preis liegt dreißig Prozent darüber.")
    assert (
        _grounded(german, "der preis liegt DREISSIG prozent") == "Der Preis liegt dreißig Prozent"
    )
    decomposed = _line("Le cafe\u0301 est pre\u0302t a\u0300 partir de lundi.")  # e + accent
    assert _grounded(decomposed, "Le café est prêt") == "Le cafe\u0301 est pre\u0302t"
    wide = _line("\uff37\uff45 \uff4e\uff45\uff45\uff44 \uff33\uff33\uff2f first.")  # full-width
    assert _grounded(wide, "we need sso first") == wide.utterances[0].text[:-1]


def test_quotes_match_whole_words_in_spaced_scripts() -> None:
    line = _line("I hear you on pricing, and the budget is set.")
    assert _grounded(line, "ear you on pri") is None  # starts and ends inside words
    assert _grounded(line, "hear you on pri") is None  # ends inside a word
    assert _grounded(line, "ear you on pricing") is None  # starts inside a word
    assert _grounded(line, "hearyou onpricing") is None  # words run together are other words
    assert _grounded(line, "hear you on pricing") == "hear you on pricing"
    assert _grounded(line, "pricing and the budget") == "pricing, and the budget"


def test_digits_and_the_marks_between_them_are_significant() -> None:
    line = _line("Sync runs every 2.5 hours and uptime is 99.9%.")
    assert _grounded(line, "Sync runs every 25 hours and uptime is 999") is None
    assert _grounded(line, "Sync runs every 2,5 hours") is None
    assert _grounded(line, "uptime is 99.9") is None  # the percent is part of the number
    assert _grounded(line, "every 2.5 hours") == "every 2.5 hours"
    assert _grounded(line, "uptime is 99.9%") == "uptime is 99.9%"


def test_thousands_separators_match_only_as_written() -> None:
    """1,000 is one thousand in English and 1.000 is one thousand in German but one in
    English: a separator is never assumed, the quote must carry the line's own marks."""
    comma = _line("We need 1,000 seats by June.")
    assert _grounded(comma, "We need 1,000 seats") == "We need 1,000 seats"
    full_width = "\uff11\uff0c\uff10\uff10\uff10 seats by June"  # NFKC folds it to 1,000
    assert _grounded(comma, full_width) == "1,000 seats by June"
    for other in ("We need 1000 seats", "We need 1.000 seats", "We need 1 000 seats"):
        assert _grounded(comma, other) is None, other
    plain = _line("We need 1000 seats by June.")
    assert _grounded(plain, "We need 1,000 seats") is None
    assert _grounded(plain, "We need 1000 seats") == "We need 1000 seats"


def test_a_number_never_grounds_inside_a_longer_one() -> None:
    line = _line("It costs $25,000 per year for 125 users.")
    assert _grounded(line, "for 25 users") is None
    assert _grounded(line, "It costs 25,000 per year") is None  # the currency is the number's
    assert _grounded(line, "costs $25,000 per year") == "costs $25,000 per year"
    assert _grounded(_line("Der Rabatt liegt bei 25 % im ersten Jahr."), "bei 25% im ersten") == (
        "bei 25 % im ersten"
    )


def test_scripts_without_spaces_match_inside_words_with_or_without_commas() -> None:
    jp = _line("正直なところ、リリースの効果がわかるまでに2.5週間ほどかかっています。")
    assert _grounded(jp, "なところリリースの効果") == "なところ、リリースの効果"  # no boundaries
    assert _grounded(jp, "正直なところ、 リリースの効果") == "正直なところ、リリースの効果"
    assert _grounded(jp, "効果がわかるまでに25週間") is None  # digits still count
    assert _grounded(jp, "効果がわかるまでに2.5週間") == "効果がわかるまでに2.5週間"
    assert (
        _grounded(jp, "2.5週間ほどかかっています。") == "2.5週間ほどかかっています。"
    )  # the quote's closing mark is the line's


def test_a_rep_only_criterion_needs_a_line_gong_places_on_the_reps_side() -> None:
    unknown = _line("We can start the pilot next week.", Speaker("3", "Dial-in", None, None))
    assert _grounded(unknown, "start the pilot next week") == "start the pilot next week"
    assert not isinstance(
        unknown.check(rep("start the pilot next week"), rep_only=True), GroundedEvidence
    )
    placed = _line("We can start the pilot next week.")
    assert _grounded(placed, "start the pilot next week", rep_only=True) is not None


def _criteria_at(scores: list[int], overall: int | None, dimension: str) -> DimensionAssessment:
    """An assessment whose criteria score `scores` (in rubric order) under `overall`."""
    made = assessment(3, [], overall=overall, dimension=dimension)
    for item, score in zip(made.criteria, scores, strict=True):
        item.score = score
    return made


def test_the_published_score_follows_the_criteria_not_the_models_overall() -> None:
    """Every criterion at 1 under a holistic 5: the score a person sees is 1.0, the model's
    5 is kept beside it as a check, and the gap marks the dimension for review."""
    ones = _criteria_at([1] * len(RUBRIC.criteria), 5, "objections")
    result = aggregate("objections", RUBRIC, [ChunkResult(ones, 1)], GROUNDER)
    assert result.overall_score == 1.0
    assert result.model_overall == 5.0
    assert result.review_reasons and "5" in result.review_reasons[0]
    assert not result.not_applicable


def test_a_gap_of_exactly_one_point_is_not_marked_for_review() -> None:
    threes = _criteria_at([3] * len(RUBRIC.criteria), 4, "objections")
    result = aggregate("objections", RUBRIC, [ChunkResult(threes, 1)], GROUNDER)
    assert (result.overall_score, result.model_overall) == (3.0, 4.0)
    assert result.review_reasons == []
    below = _criteria_at([3] * len(RUBRIC.criteria), 2, "objections")
    result = aggregate("objections", RUBRIC, [ChunkResult(below, 1)], GROUNDER)
    assert (result.overall_score, result.model_overall, result.review_reasons) == (3.0, 2.0, [])


def test_the_published_score_weighs_criteria_by_the_rubrics_weights() -> None:
    """Product knowledge weighs its first criterion 0.4 and the others less: a 5 there and
    1 elsewhere is the rubric's weighted mean, not the plain mean of the four."""
    rubric = RUBRICS["product_knowledge"]
    scores = [5] + [1] * (len(rubric.criteria) - 1)
    made = _criteria_at(scores, 3, "product_knowledge")
    result = aggregate("product_knowledge", rubric, [ChunkResult(made, 1)], GROUNDER)
    weights = [c.weight for c in rubric.criteria]
    expected = round(sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights), 2)
    assert len(set(weights)) > 1 and expected != round(sum(scores) / len(scores), 2)
    assert result.overall_score == expected == result.weighted_score
    assert [c.weight for c in result.criteria] == weights
    assert result.model_overall == 3.0 and result.review_reasons == []


def test_a_dimension_the_model_calls_na_stays_na_with_nothing_to_review() -> None:
    na = assessment(None, [], overall=None)
    result = aggregate("objections", RUBRIC, [ChunkResult(na, 1)], GROUNDER)
    assert result.not_applicable and result.overall_score is None
    assert result.model_overall is None and result.review_reasons == []


def test_review_reasons_survive_the_stored_result() -> None:
    """What coaching_sessions.result keeps (model_dump as JSON) reads back the same; a result
    stored before this field existed reads back with nothing to review."""
    ones = _criteria_at([1] * len(RUBRIC.criteria), 5, "objections")
    result = aggregate("objections", RUBRIC, [ChunkResult(ones, 1)], GROUNDER)
    stored = result.model_dump(mode="json")
    back = DimensionResult.model_validate(stored)
    assert back.review_reasons == result.review_reasons and back.model_overall == 5.0
    del stored["review_reasons"], stored["model_overall"]
    old = DimensionResult.model_validate(stored)
    assert old.review_reasons == [] and old.model_overall is None


def _parts_at(dimension: str, scores: list[int | None], weights: list[int]) -> list[ChunkResult]:
    """Parts of one long call, every criterion of part i scored scores[i] (None: N/A)."""
    made = []
    for score, weight in zip(scores, weights, strict=True):
        part = assessment(3, [], dimension=dimension)
        for item in part.criteria:
            item.score, item.rationale = score, f"r{score}"
        made.append(ChunkResult(part, weight))
    return made


def test_a_once_per_call_behaviour_counts_its_best_part_not_the_mean() -> None:
    """An agenda is set once and next steps agreed once: no agenda in the first 80K tokens
    and a good one at the end is a 5 for the call, not 1.8. Behaviours spread over the call
    (patience, interactivity) stay weighted by coverage."""
    engagement = RUBRICS["engagement"]
    result = aggregate("engagement", engagement, _parts_at("engagement", [1, 5], [4, 1]), GROUNDER)
    by_id = {c.criterion_id: c for c in result.criteria}
    assert by_id["agenda_control"].score == 5.0
    assert by_id["agenda_control"].rationale == "r5"  # the reasons of the part that counted
    assert by_id["patience"].score == 1.8 and by_id["patience"].rationale == "r1"
    objections = aggregate("objections", RUBRIC, _parts_at("objections", [1, 5], [4, 1]), GROUNDER)
    assert {c.criterion_id: c.score for c in objections.criteria}["next_steps"] == 5.0
    marked = {c.id for r in RUBRICS.values() for c in r.criteria if c.once_per_call}
    assert marked == {"agenda_control", "next_steps"}


def test_a_once_per_call_behaviour_leaves_na_parts_out() -> None:
    """N/A parts do not count (a 3 among N/A parts is 3), and N/A everywhere stays N/A."""
    base = RUBRICS["product_knowledge"]
    rubric = base.model_copy(
        update={
            "criteria": [
                c.model_copy(update={"once_per_call": c.id == "differentiation"})
                for c in base.criteria
            ]
        }
    )
    parts = _parts_at("product_knowledge", [2, None, 3, 1], [1, 5, 1, 1])
    score = {
        c.criterion_id: c.score
        for c in aggregate("product_knowledge", rubric, parts, GROUNDER).criteria
    }
    assert score["differentiation"] == 3.0
    assert score["technical_depth"] == 2.0  # not marked: the coverage-weighted mean
    parts = _parts_at("product_knowledge", [None, None], [1, 1])
    for part in parts:
        part.assessment.overall_score = 3  # only the N/A-able criteria matter here
    result = aggregate("product_knowledge", rubric, parts, GROUNDER)
    assert {c.criterion_id: c.score for c in result.criteria}["differentiation"] is None
