"""Structured text recognised by content: JSON (and JSON Lines), XML, HTML and YAML.

A JSON file renamed .csv is still JSON (a banned type), and a table reader would misread it, so
what a text file is comes from its content, never its name. Only a bounded prefix is read; a
prefix cut short is judged on what it holds (a JSON document must parse up to the cut).
"""

from __future__ import annotations

import json
import re

# Elements that only HTML has as a document's first element; any other root is XML.
_HTML_ROOTS = frozenset(
    {"html", "head", "body", "div", "table", "p", "span", "h1", "h2", "h3", "h4", "h5", "h6",
     "ul", "ol", "li", "a", "img", "form", "section", "article", "header", "footer", "nav",
     "main", "style", "script", "meta", "link", "title", "br", "hr", "pre", "iframe"}
)  # fmt: skip
_XML_START = re.compile(
    r"\A\ufeff?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+(?P<doctype>[\w:.-]+)"
    r"[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?P<root>[A-Za-z_][\w:.-]*)(?:\s[^<>]*)?/?>",
    re.S | re.I,
)
_JSON_START = re.compile(r"\A\ufeff?\s*[\[{]")
# A YAML mapping or sequence line: "key: value", "key:", "- item"; comments and "---" aside.
_YAML_LINE = re.compile(r"^(?:\s*-\s+\S.*|\s*-\s*$|\s*[\w][\w .'\"/-]*:(?:\s+\S.*)?\s*)$")
# The end of an incomplete JSON document: an error this close to the cut means "cut short".
_CUT_SLACK = 4096


def structured_kind(text: str, complete: bool) -> str | None:
    """'json', 'xml', 'html', 'yaml' or None. ``complete``: ``text`` is the whole file."""
    if _is_json(text, complete):
        return "json"
    m = _XML_START.match(text)
    if m:
        root = m.group("root").lower()
        doctype = (m.group("doctype") or "").lower()
        return "html" if root in _HTML_ROOTS or doctype == "html" else "xml"
    if _is_yaml(text, complete):
        return "yaml"
    return None


def _is_json(text: str, complete: bool) -> bool:
    if not _JSON_START.match(text):
        return False
    body = text.lstrip("\ufeff").strip()
    try:
        json.loads(body)
        return True
    except json.JSONDecodeError as exc:
        if not complete and exc.pos >= len(body) - _CUT_SLACK and body.startswith(("{", "[")):
            return True  # a large document cut by the prefix: valid up to the cut
    # JSON Lines: every complete line one JSON object or array.
    lines = [ln for ln in body.splitlines() if ln.strip()]
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    if len(lines) < 2 or not all(ln.lstrip().startswith(("{", "[")) for ln in lines):
        return False
    try:
        for ln in lines:
            json.loads(ln)
    except json.JSONDecodeError:
        return False
    return True


def _is_yaml(text: str, complete: bool) -> bool:
    """A YAML document: a '---' start or at least three mapping/sequence lines, no other lines,
    and a mapping or list when parsed. Plain prose and delimited tables never qualify."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    started = bool(lines) and lines[0].strip() == "---"
    body = [ln for ln in lines if ln.strip() not in ("---", "...")]
    if len(body) < (1 if started else 3) or not all(_YAML_LINE.match(ln) for ln in body):
        return False
    if not any(":" in ln for ln in body) and not started:
        return False
    import yaml

    try:
        data = yaml.safe_load("\n".join(lines))
    except yaml.YAMLError:
        return False
    return isinstance(data, dict | list)
