"""Markdown helpers for the pack: escaping data into Markdown, tables, and the one HTML page.

Every value that comes from the database or the settings goes through `esc` before it is put
in Markdown, and the HTML is rendered with raw HTML turned off, so a role, a model name or a
rubric title can neither break a table nor inject markup into the rendered page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from markdown_it import MarkdownIt

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_MARKER = re.compile(r"^([#+=-])")  # would start a heading, a list or a rule
_NUMBERED = re.compile(r"^(\d+)([.)])(?=\s|$)")  # would start a numbered list


def esc(value: object) -> str:
    """`value` as literal Markdown text (one line), wherever it stands in a line."""
    text = _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _NUMBERED.sub(r"\1\\\2", _MARKER.sub(r"\\\1", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; headers are written as given, cells are escaped. Columns of whole
    numbers are right-aligned, the others left-aligned."""
    if not rows:
        return "_None._"
    align = [
        "--:" if all(isinstance(row[i], int) for row in rows) else ":--"
        for i in range(len(headers))
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(esc(c) for c in row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def bullets(items: Sequence[str]) -> str:
    """A Markdown list of lines already written as Markdown."""
    return "\n".join(f"- {item}" for item in items) if items else "_None._"


def number(value: float) -> str:
    """A share or setting as people read it: no trailing zeros."""
    return f"{value:g}"


_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 58em; margin: 2em auto; padding: 0 1em;
       color: #1b1b1b; }
nav { border: 1px solid #ccc; padding: .5em 1em; margin-bottom: 2em; }
section { border-top: 2px solid #444; margin-top: 2.5em; padding-top: .5em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #bbb; padding: .2em .6em; }
th { background: #eee; }
code { background: #f3f3f3; padding: 0 .2em; }
@media print { section { page-break-before: always; } nav { display: none; } }
"""


def render_html(title: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """One self-contained HTML page: `sections` are (anchor, heading, Markdown) in order."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    toc = "".join(
        f'<li><a href="#{html.escape(anchor)}">{html.escape(heading)}</a></li>'
        for anchor, heading, _ in sections
    )
    body = "".join(
        f'<section id="{html.escape(anchor)}">\n{md.render(text)}</section>\n'
        for anchor, _, text in sections
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<nav><strong>{html.escape(title)}</strong><ol>{toc}</ol></nav>\n{body}</body>\n</html>\n"
    )
