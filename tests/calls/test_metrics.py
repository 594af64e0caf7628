from __future__ import annotations

from common.calls.metrics import compute
from common.calls.transcript import Speaker, Utterance

REP = Speaker("1", "Rep", "AE", True)
BUYER = Speaker("2", "Buyer", "CFO", False)


def utt(speaker: Speaker, start_s: float, end_s: float, *sentences: str) -> Utterance:
    return Utterance(speaker, int(start_s * 1000), int(end_s * 1000), sentences)


def test_metrics_from_a_known_conversation() -> None:
    m = compute(
        [
            utt(REP, 0, 10, "Hi there, thanks for joining.", "What brings you here?"),
            utt(BUYER, 12, 42, "We have a problem with reporting."),
            utt(REP, 44, 50, "How long has that been going on?"),
            utt(BUYER, 51, 61, "About a year."),
            utt(BUYER, 61, 71, "It costs us a lot."),
            utt(REP, 72.5, 80, "Let me show you."),
        ]
    )
    assert m.talk_ratio_rep == round(23.5 / 73.5, 3)
    assert m.rep_questions == 2
    assert m.longest_monologue_s == 30 and m.longest_monologue_speaker == "Buyer"
    assert m.longest_customer_story_s == 30
    assert m.patience_s == 1.75  # pauses of 2 s and 1.5 s before the rep answered
    assert m.interactivity_switches_per_min == 3.0  # 4 switches in 80 s
    assert m.rep_words_per_minute == round(20 / (23.5 / 60), 1)
    assert "Talk ratio rep:customer 32:68" in m.as_facts()


def test_empty_transcript() -> None:
    assert compute([]).talk_ratio_rep == 0


# Pace in every language: words per minute where words are spaced, characters per minute where
# the script has no spaces (Japanese), each against its own language's norm.


def sample(language: str) -> list[Utterance]:
    """The utterances of the sample call Gong marks with `language` (local/samples.py)."""
    from common.calls.transcript import utterances
    from common.gong import CallTranscript, Party
    from local.samples import sample_calls

    call = next(c for c in sample_calls() if c["call"]["metaData"]["language"] == language)
    parties = [Party.model_validate(p) for p in call["call"]["parties"]]
    return utterances(CallTranscript.model_validate(call["transcript"]), parties)


def rep_minutes(utts: list[Utterance]) -> float:
    return sum(u.end_ms - u.start_ms for u in utts if u.speaker.internal) / 60_000


def test_the_japanese_sample_is_paced_in_characters_against_the_japanese_norm() -> None:
    utts = sample("jpn")
    for language in (None, "jpn", "ja", "ja-JP"):  # the script decides, metadata or not
        m = compute(utts, language=language)
        facts = m.as_facts()
        assert f"Rep speaking pace: {m.rep_pace:.0f} characters/min" in facts
        assert "comfortable for Japanese: 300-400 characters/min" in facts
        assert "words/min" not in facts
        assert m.pace_unit == "characters" and m.pace_language == "jpn"
        assert 300 <= m.rep_pace <= 400  # the sample speaks at a comfortable Japanese pace
    # every written character of the rep's turns, punctuation included (as Japanese 字数 count)
    chars = sum(len("".join(u.text.split())) for u in utts if u.speaker.internal)
    assert m.rep_pace == round(chars / rep_minutes(utts), 1)


def test_english_pace_is_unchanged_and_names_the_english_norm() -> None:
    utts = sample("eng")
    m = compute(utts)
    words = sum(len(u.text.split()) for u in utts if u.speaker.internal)
    assert m.rep_words_per_minute == m.rep_pace == round(words / rep_minutes(utts), 1)
    assert m.pace_unit == "words" and m.pace_language == "eng"
    assert (
        f"Rep speaking pace: {m.rep_pace:.0f} words/min (English; comfortable: 140-170 words/min)"
        in m.as_facts()
    )


def test_german_pace_is_in_words_against_the_german_norm() -> None:
    utts = sample("deu")
    words = sum(len(u.text.split()) for u in utts if u.speaker.internal)
    # Gong's ISO 639-2/B code, the sample's 639-2/T one, a BCP-47 tag, or none: the text is German
    for language in ("ger", "deu", "de-DE", None):
        m = compute(utts, language=language)
        assert m.pace_unit == "words" and m.pace_language == "ger"
        assert m.rep_pace == round(words / rep_minutes(utts), 1)
        facts = m.as_facts()
        assert f"Rep speaking pace: {m.rep_pace:.0f} words/min" in facts
        assert "comfortable for German: 100-130 words/min" in facts
        assert "is for English: do not apply it" in facts
    # Gong's word on the language stands when the script agrees: English text marked German
    assert compute(sample("eng"), language="ger").pace_language == "ger"


def test_a_mixed_call_is_paced_on_the_reps_main_language_only() -> None:
    english = [
        utt(REP, 0, 30, "Thanks for joining, let me walk you through how the sync works today."),
        utt(BUYER, 31, 40, "Sure."),
        utt(REP, 41, 71, "We read straight from your warehouse, so nothing is copied anywhere."),
    ]
    japanese = utt(REP, 80, 100, "佐藤さん、ここからは日本語でご説明します。よろしいでしょうか？")  # noqa: RUF001
    m = compute([*english, japanese], language="eng")
    words = sum(len(u.text.split()) for u in english if u.speaker.internal)
    assert m.pace_unit == "words" and m.pace_language == "eng"
    assert m.rep_pace == round(words / 1.0, 1)  # 60 s of English turns; the Japanese one apart
    facts = m.as_facts()
    assert f"Rep speaking pace: {m.rep_pace:.0f} words/min" in facts
    assert "Measured on the rep's English turns, 75% of their speaking time." in facts

    # a Japanese call with product names in Latin letters and one English turn is paced in
    # characters on its Japanese turns, and Gong's "eng" cannot make it words
    jp = [
        utt(
            REP,
            0,
            12,
            "BeaconはSnowflake上で直接動作するので、データを二重に持つ必要はありません。",
        ),
        utt(BUYER, 13, 20, "なるほど。"),
        utt(REP, 21, 30, "確認のため、今のお話を一度まとめてもよろしいでしょうか。"),
        utt(REP, 40, 43, "Sorry, one second."),
    ]
    m = compute(jp, language="eng")
    chars = len("".join(jp[0].text.split())) + len("".join(jp[2].text.split()))
    assert m.pace_unit == "characters" and m.pace_language == "jpn"
    assert m.rep_pace == round(chars / (21 / 60), 1)
    assert "comfortable for Japanese: 300-400 characters/min" in m.as_facts()


def test_a_language_without_a_known_norm_is_not_held_to_the_english_one() -> None:
    m = compute(
        [
            utt(
                REP,
                0,
                10,
                "Bonjour à tous, merci d'être venus aujourd'hui pour cette démonstration.",
            )
        ],
        language="fre",
    )
    assert m.pace_unit == "words" and m.pace_language == "fre"
    facts = m.as_facts()
    assert "no pace norm is known for this language" in facts and "140-170" not in facts
