"""Versioned rubrics (one YAML per dimension) and the product knowledge base (markdown).

`rubric_version(dimension)` covers that dimension's rubric and the knowledge base, so a bump
of either re-analyses what depends on it (tier-1 cache keys change). A file whose content
changed without a version bump is refused when synced to Postgres.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, ValidationError, model_validator

from common.config import DIMENSIONS
from common.db import Row
from common.errors import RubricError

SEMVER = r"^\d+\.\d+\.\d+$"


class AnchoredExample(BaseModel):
    """A short excerpt a manager scored, with why: anchors the model's scale (`calibrate`)."""

    excerpt: str = Field(max_length=300)
    score: int = Field(ge=1, le=5)
    reason: str = Field(max_length=300)


class Criterion(BaseModel):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    weight: float = Field(gt=0, le=1)
    description: str
    levels: dict[int, str]
    examples: list[AnchoredExample] = Field(default_factory=list)
    not_applicable_when: str | None = Field(
        None, description="When the model may answer N/A for this criterion (unset: never)."
    )
    rep_words_only: bool = Field(
        False, description="Evidence must be the rep's own words (a customer's quote is dropped)."
    )
    once_per_call: bool = Field(
        default=False,
        description=(
            "A behaviour that happens once in a call (an agenda set, next steps agreed): a"
            " long call's parts are judged by the best of them, not averaged."
        ),
    )

    @model_validator(mode="after")
    def _levels(self) -> Criterion:
        if set(self.levels) != {1, 3, 5}:
            raise ValueError(f"criterion {self.id}: levels must describe 1, 3 and 5")
        return self


class Rubric(BaseModel):
    dimension: str
    version: str = Field(pattern=SEMVER)
    title: str
    description: str
    criteria: list[Criterion] = Field(min_length=1)
    not_applicable_when: str | None = Field(
        None, description="When the whole dimension may be N/A for a call (unset: never)."
    )
    roles: list[str] = Field(
        default_factory=list,
        description=(
            "A variant's job roles (`common.calls.roles`): it scores the calls of reps in these"
            " roles instead of the dimension's rubric (unset: a call type names it)."
        ),
    )

    @model_validator(mode="after")
    def _roles(self) -> Rubric:
        bad = [r for r in self.roles if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", r)]
        if bad:
            raise ValueError(f"roles must be job role slugs (ae, se, csm, ...); got {bad}")
        return self

    @model_validator(mode="after")
    def _weights(self) -> Rubric:
        total = sum(c.weight for c in self.criteria)
        if abs(total - 1.0) > 0.01:
            raise ValueError(f"criterion weights sum to {total:.2f}, not 1")
        return self

    def content_hash(self) -> str:
        """Of everything but the version; fields added after release (examples, N/A rules,
        rep's words only, once per call) hash only when set, so adding them changed no released rubric's hash."""
        data = self.model_dump(exclude={"version"})
        if data["not_applicable_when"] is None:
            del data["not_applicable_when"]
        if not data["roles"]:
            del data["roles"]
        for criterion in data["criteria"]:
            for key, unset in (("examples", []), ("not_applicable_when", None)):
                if criterion[key] == unset:
                    del criterion[key]
            for flag in ("rep_words_only", "once_per_call"):
                if not criterion[flag]:
                    del criterion[flag]
        return _digest(data)

    def may_be_na(self) -> list[str]:
        """Ids of the criteria the rubric lets the model answer N/A."""
        return [c.id for c in self.criteria if c.not_applicable_when]

    def render(self) -> str:
        lines = [
            f"## Rubric: {self.title} (`{self.dimension}`, v{self.version})",
            self.description.strip(),
        ]
        if self.not_applicable_when:
            lines.append(f"The whole dimension is N/A when: {self.not_applicable_when.strip()}")
        for c in self.criteria:
            lines.append(f"### {c.id} - {c.name} (weight {c.weight:.2f})")
            lines.append(c.description.strip())
            lines.extend(f"- Score {level}: {text}" for level, text in sorted(c.levels.items()))
            if c.not_applicable_when:
                lines.append(f"- N/A when: {c.not_applicable_when.strip()}")
            if c.rep_words_only:
                lines.append("- Evidence: the rep's own words only.")
            lines.extend(
                f'- Example a manager scored {e.score}: "{e.excerpt}" ({e.reason})'
                for e in c.examples
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class KnowledgeDoc:
    name: str
    version: str
    body: str
    company: str | None = None  # front matter: who the reps sell for (the prompt names it)
    product: str | None = None  # front matter: what they sell, e.g. "the Beacon platform"

    def content_hash(self) -> str:
        if self.company is None and self.product is None:
            return _digest(self.body)  # as before the fields existed
        return _digest([self.body, self.company, self.product])


@dataclass(frozen=True)
class RubricSet:
    rubrics: dict[str, Rubric]
    knowledge: tuple[KnowledgeDoc, ...]
    variants: dict[str, Rubric] = field(default_factory=dict)  # rubrics/variants/<name>.yaml

    def role_variant(self, dimension: str, role: str | None) -> str | None:
        """The variant that scores the dimension for reps in `role`, if there is one."""
        return next(
            (n for n, v in self.variants.items() if v.dimension == dimension and role in v.roles),
            None,
        )

    def rubric_for(self, dimension: str, variant: str | None = None) -> Rubric:
        """The dimension's rubric, or the named variant of it (a call type's choice)."""
        if variant is None:
            return self.rubrics[dimension]
        return self.variants[variant]

    @property
    def kb_version(self) -> str:
        """A short digest of every knowledge-base document's name and version."""
        return _digest(sorted((d.name, d.version) for d in self.knowledge))[:10]

    def rubric_version(self, dimension: str, variant: str | None = None) -> str:
        """The rubric's version and the knowledge base's; a variant's also names it, so the
        base rubric and a variant at the same version never share a cache key."""
        base = f"{self.rubric_for(dimension, variant).version}+kb.{self.kb_version}"
        return f"{base}+variant.{variant}" if variant else base

    def seller(self) -> str:
        """Who the reps sell for and what, from the knowledge base's front matter."""
        company = next((d.company for d in self.knowledge if d.company), None)
        product = next((d.product for d in self.knowledge if d.product), None)
        if company and product:
            return f"{company}, which sells {product}"
        return company or "the company whose product the knowledge base describes"

    def render_knowledge(self) -> str:
        return "\n\n".join(d.body.strip() for d in self.knowledge)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


def load_knowledge_doc(path: Path) -> KnowledgeDoc:
    text = path.read_text()
    match = _FRONT_MATTER.match(text)
    meta = yaml.safe_load(match.group(1)) if match else None
    version = str(meta.get("version", "")) if isinstance(meta, dict) else ""
    if not re.match(SEMVER, version):
        raise RubricError(f"{path}: front matter needs 'version: X.Y.Z'")
    body = text[match.end() :] if match else text
    names = {
        k: str(meta[k]) for k in ("company", "product") if isinstance(meta, dict) and meta.get(k)
    }
    return KnowledgeDoc(path.stem, version, body, **names)


def load_rubric(path: Path) -> Rubric:
    try:
        rubric = Rubric.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise RubricError(f"{path}: invalid rubric: {exc}") from None
    if rubric.dimension != path.stem:
        raise RubricError(f"{path}: dimension {rubric.dimension!r} does not match the file name")
    return rubric


def load(directory: Path) -> RubricSet:
    """Load the four rubrics and the knowledge base from `directory`."""
    rubrics = {}
    for dimension in DIMENSIONS:
        path = directory / f"{dimension}.yaml"
        if not path.exists():
            raise RubricError(f"missing rubric {path}")
        rubrics[dimension] = load_rubric(path)
    docs = tuple(load_knowledge_doc(p) for p in sorted((directory / "knowledge_base").glob("*.md")))
    variants = {p.stem: _variant(p) for p in sorted((directory / "variants").glob("*.yaml"))}
    _one_per_role(variants)
    return RubricSet(rubrics, docs, variants)


def _one_per_role(variants: dict[str, Rubric]) -> None:
    """A role has at most one variant of a dimension: which would score its calls otherwise?"""
    seen: dict[tuple[str, str], str] = {}
    for name, variant in variants.items():
        for role in variant.roles:
            other = seen.setdefault((variant.dimension, role), name)
            if other != name:
                raise RubricError(
                    f"rubrics/variants/{other}.yaml and {name}.yaml both score"
                    f" {variant.dimension} for the job role {role!r}: keep one"
                )


def _variant(path: Path) -> Rubric:
    """A variant names its dimension inside; its file name is the variant's name."""
    try:
        rubric = Rubric.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as exc:
        raise RubricError(f"{path}: invalid rubric: {exc}") from None
    if rubric.dimension not in DIMENSIONS:
        raise RubricError(f"{path}: dimension {rubric.dimension!r} is not one of {DIMENSIONS}")
    return rubric


def sync(conn: psycopg.Connection[Row], rubric_set: RubricSet) -> None:
    """Record every version in Postgres; refuse content changed without a version bump.

    Serialised by a transaction-scoped advisory lock: runs that start together would
    otherwise both find a new version missing and both insert it.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('rubrics-sync', 0))")
    for rubric in rubric_set.rubrics.values():
        _record(
            conn,
            "rubrics",
            "dimension",
            rubric.dimension,
            rubric.version,
            rubric.content_hash(),
            f"rubrics/{rubric.dimension}.yaml",
            Jsonb(rubric.model_dump(mode="json")),
        )
    for name, variant in rubric_set.variants.items():
        _record(
            conn,
            "rubrics",
            "dimension",
            f"variant:{name}",
            variant.version,
            variant.content_hash(),
            f"rubrics/variants/{name}.yaml",
            Jsonb(variant.model_dump(mode="json")),
        )
    for doc in rubric_set.knowledge:
        _record(
            conn,
            "knowledge_base_versions",
            "name",
            doc.name,
            doc.version,
            doc.content_hash(),
            f"rubrics/knowledge_base/{doc.name}.md",
            None,
        )


def _record(
    conn: psycopg.Connection[Row],
    table: str,
    key_col: str,
    key: str,
    version: str,
    content_hash: str,
    path: str,
    content: Jsonb | None,
) -> None:
    row = conn.execute(
        f"SELECT content_hash FROM {table} WHERE {key_col} = %s AND version = %s", (key, version)
    ).fetchone()
    if row is None:
        if content is None:
            conn.execute(
                f"INSERT INTO {table} ({key_col}, version, content_hash) VALUES (%s, %s, %s)",
                (key, version, content_hash),
            )
        else:
            conn.execute(
                f"INSERT INTO {table} ({key_col}, version, content_hash, content)"
                " VALUES (%s, %s, %s, %s)",
                (key, version, content_hash, content),
            )
    elif row["content_hash"] != content_hash:
        raise RubricError(
            f"{path} changed since version {version} was recorded: bump its version"
            " (cached analyses would otherwise be reused for the new content)"
        )


STARTER = Path(__file__).parent / "starter"


def starter(directory: Path) -> list[str]:
    """Write `directory/rubrics`: the four rubrics and an empty knowledge base with its
    instructions and a company.md to fill in. Refuses to overwrite an existing folder."""
    target = directory / "rubrics"
    if target.exists():
        raise RubricError(f"{target} exists already; choose another folder")
    written = []
    for path in sorted(STARTER.rglob("*")):
        if path.is_file():
            out = target / path.relative_to(STARTER)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(path.read_bytes())
            written.append(str(out.relative_to(directory)))
    load(target)  # what we write must load
    return written
