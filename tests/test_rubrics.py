from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from common.config import ROOT
from common.errors import RubricError
from common.rubrics import load, sync


@pytest.fixture
def rubric_dir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rubrics", tmp_path / "rubrics")
    return tmp_path / "rubrics"


def test_shipped_rubrics_load_with_weights_summing_to_one() -> None:
    rubrics = load(ROOT / "rubrics")
    assert set(rubrics.rubrics) == {"product_knowledge", "discovery", "objections", "engagement"}
    for r in rubrics.rubrics.values():
        assert abs(sum(c.weight for c in r.criteria) - 1) < 0.01
    assert {d.name for d in rubrics.knowledge} >= {"product", "pricing", "security", "competitors"}


def test_rubric_version_covers_knowledge_base(rubric_dir: Path) -> None:
    before = load(rubric_dir)
    kb = rubric_dir / "knowledge_base" / "pricing.md"
    kb.write_text(kb.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    after = load(rubric_dir)
    assert before.rubric_version("discovery") != after.rubric_version("discovery")
    assert after.rubric_version("discovery").startswith("1.1.0+kb.")


def test_fields_added_after_release_change_the_hash_only_when_set(rubric_dir: Path) -> None:
    """A rubric released before N/A rules existed keeps its hash (sync would refuse it as
    changed without a bump otherwise); setting a rule is a change that needs one."""
    engagement = load(rubric_dir).rubrics["engagement"]
    bare = engagement.model_copy(
        update={
            "criteria": [
                c.model_copy(update={"rep_words_only": False, "once_per_call": False})
                for c in engagement.criteria
            ]
        }
    )
    import hashlib
    import json

    data = bare.model_dump(exclude={"version", "not_applicable_when", "roles"})
    for c in data["criteria"]:
        for key in ("examples", "not_applicable_when", "rep_words_only", "once_per_call"):
            del c[key]
    as_released = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    assert bare.content_hash() == as_released
    assert engagement.content_hash() != as_released  # agenda_control: the rep's words only
    ruled = bare.model_copy(update={"not_applicable_when": "an internal meeting"})
    assert ruled.content_hash() != as_released
    assert "The whole dimension is N/A when: an internal meeting" in ruled.render()
    for_roles = bare.model_copy(update={"roles": ["se"]})  # a variant for sales engineers
    assert for_roles.content_hash() != as_released


def test_marking_a_behaviour_once_per_call_needs_a_version_bump(
    rubric_dir: Path, db_url: str
) -> None:
    """Once per call changes how a long call is scored, so it is part of the rubric's hash:
    marking a criterion without a bump is refused, and the bump re-scores the dimension
    (its rubric version is in the cache key)."""
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        sync(conn, load(rubric_dir))
        before = load(rubric_dir)
        path = rubric_dir / "discovery.yaml"
        marked = path.read_text().replace(
            "  - id: listening\n", "  - id: listening\n    once_per_call: true\n"
        )
        path.write_text(marked)
        assert [c.once_per_call for c in load(rubric_dir).rubrics["discovery"].criteria] == [
            False,
            False,
            False,
            True,
        ]
        with pytest.raises(RubricError, match=r"discovery.yaml changed since version 1.1.0"):
            sync(conn, load(rubric_dir))
        path.write_text(marked.replace("version: 1.1.0", "version: 1.2.0", 1))
        sync(conn, load(rubric_dir))
        assert load(rubric_dir).rubric_version("discovery") != before.rubric_version("discovery")


def test_content_change_without_bump_is_refused(rubric_dir: Path, db_url: str) -> None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        sync(conn, load(rubric_dir))
        kb = rubric_dir / "knowledge_base" / "security.md"
        kb.write_text(kb.read_text().replace("ISO 27001", "ISO 27001 and FedRAMP"))
        with pytest.raises(RubricError, match=r"security.md changed since version 1.0.0.*bump"):
            sync(conn, load(rubric_dir))
        sync(conn, load(ROOT / "rubrics"))  # unchanged files sync again without complaint
        assert conn.execute("SELECT count(*) AS n FROM rubrics").fetchone()["n"] == 5  # type: ignore[index]  # four and a variant


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("version: 1.1.0", "version: one", "version"),
        ("weight: 0.3\n", "weight: 0.9\n", "weights sum"),
        ("      5: Open questions", "      4: Open questions", "levels must describe 1, 3 and 5"),
    ],
)
def test_invalid_rubrics_are_refused(rubric_dir: Path, old: str, new: str, message: str) -> None:
    path = rubric_dir / "discovery.yaml"
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(RubricError, match=message):
        load(rubric_dir)


def test_runs_starting_together_record_a_new_version_once(db_url: str) -> None:
    import threading

    rubric_set = load(ROOT / "rubrics")
    for _ in range(5):
        with psycopg.connect(db_url) as conn:
            conn.execute("DELETE FROM rubrics")
            conn.execute("DELETE FROM knowledge_base_versions")
        barrier, errors = threading.Barrier(3), list[Exception]()

        def run(barrier: threading.Barrier = barrier, errors: list[Exception] = errors) -> None:
            try:
                with psycopg.connect(db_url, row_factory=dict_row) as conn, conn.transaction():
                    barrier.wait()
                    sync(conn, rubric_set)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM rubrics").fetchone() == (5,)  # four and a variant


def test_the_company_comes_from_the_knowledge_base(tmp_path: Path) -> None:
    from common.rubrics import starter
    from common.scoring.prompts import system_blocks

    written = starter(tmp_path)
    assert "rubrics/knowledge_base/README.txt" in written and len(written) == 6
    company = tmp_path / "rubrics" / "knowledge_base" / "company.md"
    company.write_text(
        company.read_text()
        .replace("Your Company", "Acme Robotics")
        .replace("your product", "the Forge welding cell")
    )
    text = system_blocks(load(tmp_path / "rubrics"), "1h")[0]["text"]
    assert "sales calls for Acme Robotics, which sells the Forge welding cell." in text
    assert "Northwind" not in text and "Beacon" not in text
    with pytest.raises(RubricError, match="exists already"):
        starter(tmp_path)


def test_the_demo_company_is_named_by_its_knowledge_base() -> None:
    from common.config import ROOT
    from common.scoring.prompts import INSTRUCTIONS

    assert "Northwind" not in INSTRUCTIONS  # the sample company is data, not code
    assert (
        load(ROOT / "rubrics").seller()
        == "Northwind Analytics, which sells the Beacon product-analytics platform"
    )
