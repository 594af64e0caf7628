"""Gong's published OpenAPI description (../shared/reference/gong-openapi-v2.json), read by the
deal tests; the repository's own copy is used when there is one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.config import ROOT

_COPIES = [
    *sorted(ROOT.glob("tests/**/gong-openapi-v2.json")),
    *sorted(ROOT.glob("docs/**/gong-openapi-v2.json")),
    ROOT.parent / "shared" / "reference" / "gong-openapi-v2.json",
]
SPEC: dict[str, Any] = json.loads(next(p for p in _COPIES if Path(p).exists()).read_text())


def schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def request_schema(path: str) -> dict[str, Any]:
    """The JSON request body schema of POST `path`, resolvable (components attached)."""
    body = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**body, "components": SPEC["components"]}
