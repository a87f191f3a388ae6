"""The check report: its model, and its JSON (machines), text (terminals) and HTML (officers) forms.

JSON shape (exactly):
    {"verdict": "pass"|"fail",
     "files": [{"path", "role", "type", "size", "sha256", "findings": [finding...]}],
     (a finding: {"rule", "kind", "severity", "message", "location"}; a cross-table one also
      "related": {"source" (STATS-ID, folder or "" for this request), "file", "sheet", "cell",
      "compare": [[what, value here, value there], ...]})
     "findings": [request-level finding...],
     "summary": {"files": n, "by_severity": {"block": n, "review": n, "info": n},
                 "by_rule": {rule: n}, "blocking": n}}
The verdict is "fail" if and only if any finding has severity "block".
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.checks.findings import Finding, Severity, sort_findings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
HTML_TEMPLATE = "check_report.html.j2"


@dataclass
class FileResult:
    path: str
    role: str
    type: str
    size: int | None
    sha256: str | None
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "role": self.role,
            "type": self.type,
            "size": self.size,
            "sha256": self.sha256,
            "findings": [f.to_dict() for f in sort_findings(self.findings)],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileResult:
        return cls(
            d["path"],
            d["role"],
            d["type"],
            d.get("size"),
            d.get("sha256"),
            [Finding.from_dict(f) for f in d.get("findings", [])],
        )


@dataclass
class CheckReport:
    files: list[FileResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # request-level
    root: str | None = None  # what was checked (not part of the JSON)
    # The output tables as profiled for secondary disclosure (not part of the JSON: the ledger
    # records them at release, the request page lists released tables sharing dimensions).
    tables: list[Any] = field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return [f for fr in self.files for f in fr.findings] + list(self.findings)

    @property
    def blocking(self) -> int:
        return sum(1 for f in self.all_findings() if f.severity == Severity.BLOCK)

    @property
    def verdict(self) -> str:
        return "fail" if self.blocking else "pass"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def summary(self) -> dict[str, Any]:
        every = self.all_findings()
        by_sev = {str(s): 0 for s in Severity}
        for f in every:
            by_sev[str(f.severity)] += 1
        by_rule = dict(sorted(Counter(f.rule for f in every).items()))
        return {
            "files": len(self.files),
            "by_severity": by_sev,
            "by_rule": by_rule,
            "blocking": by_sev["block"],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "files": [fr.to_dict() for fr in self.files],
            "findings": [f.to_dict() for f in sort_findings(self.findings)],
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckReport:
        return cls(
            [FileResult.from_dict(x) for x in d.get("files", [])],
            [Finding.from_dict(f) for f in d.get("findings", [])],
        )


def render_json(report: CheckReport) -> str:
    return json.dumps(report.to_dict(), indent=2)


def safe_display(text: str | None) -> str:
    """A name as a terminal may show it: control characters escaped, undecodable bytes replaced."""
    if text is None:
        return ""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _loc(f: Finding) -> str:
    return safe_display(str(f.location)) or "(request)"


def render_text(report: CheckReport) -> str:
    s = report.summary()
    sev = s["by_severity"]
    lines = [
        f"{report.verdict.upper()}: {safe_display(report.root or '')}".rstrip(": "),
        f"{s['files']} file(s); {sev['block']} blocking, {sev['review']} for review, {sev['info']} info",
        "",
    ]
    every = sort_findings(report.all_findings())
    for f in every:
        kind = f"/{f.kind}" if f.kind else ""
        lines.append(f"  {str(f.severity).upper():6} {f.rule}{kind}  {_loc(f)}")
        lines.append(f"         {safe_display(f.message)}")
    if every:
        lines.append("")
    lines.append("Files:")
    for fr in report.files:
        n = len(fr.findings)
        lines.append(
            f"  {safe_display(fr.path)}  [{fr.role}, {fr.type}, "
            f"{fr.size if fr.size is not None else '?'} bytes]  {n} finding(s)"
        )
    return "\n".join(lines) + "\n"


def render_html(report: CheckReport, title: str | None = None) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["display"] = safe_display
    tmpl = env.get_template(HTML_TEMPLATE)
    every = sort_findings(report.all_findings())
    return tmpl.render(
        title=title or "SRS check report",
        root=safe_display(report.root or ""),
        verdict=report.verdict,
        summary=report.summary(),
        findings=every,
        files=report.files,
    )


def render(report: CheckReport, fmt: str) -> str:
    if fmt == "json":
        return render_json(report) + "\n"
    if fmt == "text":
        return render_text(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r} (json, text or html)")
