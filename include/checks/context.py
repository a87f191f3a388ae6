"""`context_missing` (review): an output's form entry too thin for an officer to check it.

The guidance asks for what each output shows, the data and variables used, and the
methodology. An empty field is already `request_form_incomplete` (block); this rule catches
the entry that is there but says almost nothing: fewer words than ``MIN_WORDS`` asks, or a
placeholder ("n/a", "see above", "as before").
"""

from __future__ import annotations

import re

from include.checks.findings import Finding, Location, Severity
from include.checks.request_form import FILE_COLUMNS, FileEntry

RULE = "context_missing"
# Words each field needs at least: what a file shows takes a phrase ("Counts by region");
# a dataset and its variables, or a method, can be named in two ("LFS: region", "Poisson
# regression"). One word, or a placeholder, tells an officer nothing.
MIN_WORDS = {"description": 3, "data_and_variables": 2, "methodology": 2}
FIELDS = tuple(MIN_WORDS)
_PLACEHOLDER = re.compile(
    r"^\s*(?:n/?a|none|tbc|tbd|todo|see (?:above|below|attached|code|form|file|email)|"
    r"as (?:above|before|previous(?:ly)?|usual|discussed)|same as (?:above|before)|"
    r"various|misc|other|output|outputs|results?|tables?|data|analysis|stats|-+|\?+|\.+)\s*$",
    re.I,
)


def thin(text: str, min_words: int = 3) -> str | None:
    """Why a field says too little (None if it is enough, or empty: that is another rule)."""
    if not text.strip():
        return None
    if _PLACEHOLDER.match(text):
        return f"{text.strip()!r} is a placeholder"
    words = re.findall(r"[A-Za-z0-9][\w'-]*", text)
    if len(words) < min_words:
        return f"{text.strip()!r} is only {len(words)} word{'s' if len(words) != 1 else ''}"
    return None


def context_findings(entry: FileEntry, rel: str) -> list[Finding]:
    """Review findings on an output file whose form entry gives too little context."""
    out = []
    for key in FIELDS:
        why = thin(getattr(entry, key) or "", MIN_WORDS[key])
        if why is None:
            continue
        out.append(
            Finding(
                RULE,
                Severity.REVIEW,
                f"the request form's {FILE_COLUMNS[key]!r} for {rel!r} says too little "
                f"({why}); say in a sentence or two what the file shows, which data and "
                "variables it uses and how it was produced, so an officer can check it",
                Location(file=rel),
                kind=key,
            )
        )
    return out
