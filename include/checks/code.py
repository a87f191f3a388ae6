"""Code files: annotation, server paths, individual look-ups, pasted results, identifiers.

Rules (shared/RULES.md, "Code files"): `code_uncommented` (review) when a file of more than
`MIN_LINES_FOR_RATIO` non-blank lines has fewer than `MIN_COMMENT_RATIO` of them commented
(comment markers per language; notebook markdown counts as commentary); `server_path` (block)
for UNC paths other than the proxy `\\\\P\\`; `individual_search` (block) for a filter that
compares an identifier-like column with a literal value; `embedded_results` (review) for
pasted tables, long literal data, statistical-package output, or saved notebook outputs; and
identifiers in code and comments through `identifiers.scan_text`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from include.checks.documents import MAX_TEXT_CHARS, _truncated, read_text_bounded, scan_bounded
from include.checks.findings import Finding, Location, Severity
from include.checks.policy import CheckPolicy
from include.checks.spreadsheets import scan_text_fn

MIN_LINES_FOR_RATIO = 10
MIN_COMMENT_RATIO = 0.10
MAX_NOTEBOOK_BYTES = MAX_TEXT_CHARS


@dataclass(frozen=True)
class Syntax:
    line: tuple[str, ...] = ()  # line-comment markers (anywhere outside strings)
    start_of_line: tuple[str, ...] = ()  # markers that comment only at the start of a line
    block: tuple[tuple[str, str], ...] = ()  # (open, close)
    quotes: tuple[str, ...] = ('"', "'")


SYNTAX: dict[str, Syntax] = {
    "python": Syntax(line=("#",), block=(('"""', '"""'), ("'''", "'''"))),
    "r": Syntax(line=("#",)),
    "stata": Syntax(line=("//",), start_of_line=("*",), block=(("/*", "*/"),), quotes=('"',)),
    "sas": Syntax(start_of_line=("*",), block=(("/*", "*/"),)),
    "spss": Syntax(start_of_line=("*", "comment "), block=(("/*", "*/"),)),
    "sql": Syntax(line=("--",), block=(("/*", "*/"),), quotes=("'",)),
    "matlab": Syntax(line=("%",), block=(("%{", "%}"),), quotes=("'", '"')),
    "julia": Syntax(line=("#",), block=(("#=", "=#"),)),
    "shell": Syntax(line=("#",)),
    "powershell": Syntax(line=("#",), block=(("<#", "#>"),)),
    "batch": Syntax(start_of_line=("rem ", "::", "@rem ")),
    "c": Syntax(line=("//",), block=(("/*", "*/"),)),
    "vb": Syntax(line=("'",), start_of_line=("rem ",), quotes=('"',)),
    "fortran": Syntax(line=("!",)),
    "unknown": Syntax(line=("#", "//", "--"), block=(("/*", "*/"),)),
}


def comment_lines(text: str, language: str) -> tuple[int, int]:
    """(non-blank lines, lines holding a comment) with a small string-aware scanner."""
    syn = SYNTAX.get(language, SYNTAX["unknown"])
    total = commented = 0
    in_block: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        total += 1
        if in_block is not None:
            commented += 1
            if in_block in line:
                in_block = None
            continue
        low = line.lower()
        if any(low.startswith(m) for m in syn.start_of_line):
            commented += 1
            continue
        found = False
        quote: str | None = None
        i = 0
        while i < len(line):
            ch = line[i]
            if quote:
                if ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = None
                i += 1
                continue
            opened = next((b for b in syn.block if line.startswith(b[0], i)), None)
            if opened:
                found = True
                close_at = line.find(opened[1], i + len(opened[0]))
                if close_at < 0:
                    in_block = opened[1]
                    break
                i = close_at + len(opened[1])
                continue
            if any(line.startswith(m, i) for m in syn.line):
                found = True
                break
            if ch in syn.quotes:
                quote = ch
            i += 1
        if found:
            commented += 1
    return total, commented


# -- server paths --------------------------------------------------------------------------------

# \\server\share, also with doubled backslashes as written inside string literals ("\\\\srv\\x"),
# or //server/share inside a quoted string. The share must be a real name (2+ characters), which
# keeps regex escapes such as "\\s\\s+" or "\\bword\\b" out.
_UNC = re.compile(
    r"(?<![\\\w:])(?:\\\\){1,2}(?P<server>[A-Za-z0-9][\w.$-]*)(?:\\){1,2}(?P<share>[\w$][\w $.-]+)"
)
_UNC_FWD = re.compile(r"""["'](?://)(?P<server>[A-Za-z0-9][\w.$-]*)/(?P<share>[\w$][\w $.-]+)""")
PROXY_SERVERS = frozenset({"p"})


def server_paths(text: str, rel: str) -> list[Finding]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for rx in (_UNC, _UNC_FWD):
            for m in rx.finditer(line):
                server = m.group("server")
                if server.lower() in PROXY_SERVERS:
                    continue
                out.append(
                    Finding(
                        "server_path",
                        Severity.BLOCK,
                        f"The path names an SRS server ({server!r}). Remove the server name or use the "
                        "proxy, e.g. \\\\P\\Ready for checking.",
                        Location(file=rel, line=lineno),
                        kind="unc_path",
                    )
                )
    return out


# -- individual look-ups -------------------------------------------------------------------------

_IDENT_COL = (
    r"(?:[A-Za-z]\w*_)?(?:id|pid|nhs(?:_?(?:number|no|num))?|nhsnumber|nino|ni_?(?:number|no)|"
    r"person(?:_?id)?|patient(?:_?id)?|pupil(?:_?id)?|upn|urn|uprn|ruref|luref|entref|crn|"
    r"company_?(?:number|no|reg(?:istration)?_?(?:number|no)?)|passport(?:_?(?:number|no))?|"
    r"post_?code|dob|date_?of_?birth|surname|forename|first_?name|last_?name|full_?name|"
    r"person_?name|email|address|ruref\w*|idbr\w*|respondent\w*|household_?id|hh_?id)"
)
# A literal worth searching for: a quoted value of 3+ characters, or a number of 4+ digits.
_LIT = r"""(?P<lit>"[^"\n]{3,}"|'[^'\n]{3,}'|\d{4,}(?![\w.]))"""
_COL = rf"""(?P<col>\b{_IDENT_COL})\b(?:["'\]\)])*"""
_EQ_ANY = r"(?:==|%in%\s*c\(|\.isin\(\s*[\[\(\{]?|\.eq\(|\beq\b|\bEQ\b)"
_EQ_SINGLE = r"(?<![<>!=])=(?!=)"
_IN_LIST = r"\b(?:in|IN|In)\s*\("
_LIKE = r"\b(?:like|LIKE|Like)\b"

_SEARCH_STRICT = re.compile(rf"{_COL}\s*{_EQ_ANY}\s*{_LIT}")
_SEARCH_SQLISH = re.compile(rf"{_COL}\s*(?:{_EQ_SINGLE}|{_IN_LIST}|{_LIKE})\s*{_LIT}")
_STATA_IF = re.compile(rf"\bif\s+{_COL}\s*==?\s*{_LIT}")
_SQLISH = frozenset({"sql", "sas", "spss", "stata", "unknown"})
_AREA_CODE = re.compile(r"^[EKNSWL]\d{8}$")


def _literal_is_identifier_like(lit: str) -> bool:
    value = lit.strip("\"'")
    if _AREA_CODE.match(value):
        return False  # statistical geography (E09000001), not an entity
    if value.isdigit() and len(value) == 4 and 1800 <= int(value) <= 2100:
        return False  # a year
    return not re.fullmatch(r"[\W_]*|%[^%]*%?|\{.*\}|\$\w+", value)  # placeholders, patterns


def individual_searches(text: str, rel: str, language: str) -> list[Finding]:
    patterns = [_SEARCH_STRICT]
    if language in _SQLISH:
        patterns += [_SEARCH_SQLISH, _STATA_IF]
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for rx in patterns:
            m = rx.search(line)
            if m and _literal_is_identifier_like(m.group("lit")):
                out.append(
                    Finding(
                        "individual_search",
                        Severity.BLOCK,
                        f"The code looks up a single entity: it filters {m.group('col')!r} on a literal "
                        "value. Remove commands that search for individual records.",
                        Location(file=rel, line=lineno),
                        kind="identifier_filter",
                    )
                )
                break
    return out


# -- pasted results ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*%?(?![\w])")
_STAT_OUTPUT = re.compile(
    r"(Number of obs\s*=|R-squared\s*=|Adj R-squared|Prob > F|Std\. Err\.|P>\|[tz]\||"
    r"Residual standard error:|Multiple R-squared:|Signif\. codes:|Pr\(>\|[tz]\|\)|"
    r"^\s*-{10,}\+-{5,}|^\s*Coef(?:ficients)?\s*[:.]|Dep\. Variable:|No\. Observations:|"
    r"The (MEANS|FREQ|REG|LOGISTIC) Procedure)",
    re.I,
)
MIN_TABLE_LINES = 5
MIN_NUMBERS_PER_TABLE_LINE = 3
MIN_NUMBERS_IN_LINE = 25


def embedded_results(text: str, rel: str) -> list[Finding]:
    out: list[Finding] = []
    run_start = 0
    run = 0
    reported_stat = False
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip().lstrip("#*/%-'; ")
        numbers = _NUMBER.findall(stripped)
        letters = sum(ch.isalpha() for ch in stripped)
        tabular = len(numbers) >= MIN_NUMBERS_PER_TABLE_LINE and letters <= max(
            12, len(stripped) // 4
        )
        if tabular:
            if run == 0:
                run_start = lineno
            run += 1
        else:
            if run >= MIN_TABLE_LINES:
                out.append(_pasted(rel, run_start, run))
            run = 0
        if len(numbers) >= MIN_NUMBERS_IN_LINE and len({n for n in numbers}) > 5:
            out.append(
                Finding(
                    "embedded_results",
                    Severity.REVIEW,
                    f"Line {lineno} holds {len(numbers)} numeric literals: data pasted into code? "
                    "Code must not contain data or results.",
                    Location(file=rel, line=lineno),
                    kind="literal_data",
                )
            )
        if not reported_stat and _STAT_OUTPUT.search(line):
            reported_stat = True
            out.append(
                Finding(
                    "embedded_results",
                    Severity.REVIEW,
                    "The code appears to contain pasted statistical output (model or table results). "
                    "Code must not contain results; submit results as outputs.",
                    Location(file=rel, line=lineno),
                    kind="pasted_output",
                )
            )
    if run >= MIN_TABLE_LINES:
        out.append(_pasted(rel, run_start, run))
    return out


def _pasted(rel: str, start: int, n: int) -> Finding:
    return Finding(
        "embedded_results",
        Severity.REVIEW,
        f"Lines {start}-{start + n - 1} look like a pasted table of numbers. Code must not "
        "contain data or results.",
        Location(file=rel, line=start),
        kind="pasted_table",
    )


# -- entry points ------------------------------------------------------------------------------------


def _uncommented(rel: str, total: int, commented: int, what: str = "lines") -> Finding | None:
    if total > MIN_LINES_FOR_RATIO and commented / total < MIN_COMMENT_RATIO:
        return Finding(
            "code_uncommented",
            Severity.REVIEW,
            f"Only {commented} of {total} non-blank {what} are comments "
            f"({commented / total:.0%}; at least {MIN_COMMENT_RATIO:.0%} expected). Annotate the code "
            "to describe its actions and intended outcome.",
            Location(file=rel),
        )
    return None


def check_source(
    text: str, rel: str, language: str, policy: CheckPolicy, location: Location | None = None
) -> list[Finding]:
    """All code rules on one piece of source (a file or a notebook's joined code cells)."""
    out: list[Finding] = []
    out.extend(server_paths(text, rel))
    out.extend(individual_searches(text, rel, language))
    out.extend(embedded_results(text, rel))
    out.extend(scan_bounded(text, policy, location or Location(file=rel)))
    return out


def check_code(path: Path, rel: str, language: str, policy: CheckPolicy) -> list[Finding]:
    text, cut = read_text_bounded(path)
    out = check_source(text, rel, language, policy)
    total, commented = comment_lines(text, language)
    f = _uncommented(rel, total, commented)
    if f:
        out.append(f)
    if cut:
        out.append(_truncated(rel, "the code"))
    return out


_LANG_ALIASES = {
    "python": "python",
    "python3": "python",
    "r": "r",
    "ir": "r",
    "julia": "julia",
    "stata": "stata",
    "sas": "sas",
    "matlab": "matlab",
    "sql": "sql",
    "bash": "shell",
}


def check_notebook(path: Path, rel: str, policy: CheckPolicy) -> list[Finding]:
    with open(path, "rb") as fh:
        raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        return [_truncated(rel, "the notebook")]
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
        cells = nb["cells"] if isinstance(nb, dict) else None
        if not isinstance(cells, list):
            raise ValueError("no 'cells' list")
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        return [
            Finding(
                "unreadable",
                Severity.BLOCK,
                f"The notebook is not valid Jupyter JSON ({exc}).",
                Location(file=rel),
                kind="corrupt",
            )
        ]
    meta = nb.get("metadata") or {}
    lang_name = str(
        (meta.get("kernelspec") or {}).get("language")
        or (meta.get("language_info") or {}).get("name")
        or "python"
    ).lower()
    language = _LANG_ALIASES.get(lang_name, "unknown")

    out: list[Finding] = []
    code_parts: list[str] = []
    total = commented = markdown_lines = 0
    output_cells: list[int] = []
    output_text: list[str] = []
    for i, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            continue
        src = cell.get("source") or ""
        src = "".join(src) if isinstance(src, list) else str(src)
        kind = cell.get("cell_type")
        if kind == "markdown":
            markdown_lines += sum(1 for ln in src.splitlines() if ln.strip())
            output_text.append(src)
        elif kind == "code":
            t, c = comment_lines(src, language)
            total, commented = total + t, commented + c
            code_parts.append(f"# --- cell {i} ---\n{src}")
            outputs = cell.get("outputs") or []
            if outputs:
                output_cells.append(i)
                for o in outputs:
                    if not isinstance(o, dict):
                        continue
                    txt = o.get("text") or (o.get("data") or {}).get("text/plain") or ""
                    output_text.append("".join(txt) if isinstance(txt, list) else str(txt))
    source = "\n".join(code_parts)
    out.extend(check_source(source, rel, language, policy))
    # Markdown cells and outputs may name people or hold identifiers too.
    extra = "\n".join(output_text)
    if extra.strip():
        out.extend(scan_bounded(extra[:MAX_TEXT_CHARS], policy, Location(file=rel), scan_text_fn()))
    if output_cells:
        listed = ", ".join(str(c) for c in output_cells[:10])
        more = f" and {len(output_cells) - 10} more" if len(output_cells) > 10 else ""
        out.append(
            Finding(
                "embedded_results",
                Severity.REVIEW,
                f"{len(output_cells)} code cell(s) keep their outputs (cells {listed}{more}): results "
                "saved in the notebook. Clear all outputs before submitting code.",
                Location(file=rel),
                kind="notebook_output",
            )
        )
    f = _uncommented(rel, total, commented + markdown_lines, "code lines")
    if f:
        out.append(f)
    return out
