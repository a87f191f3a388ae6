"""Benchmark the table checks against plain pandas reading the same file.

For each size (10k, 100k, 1M rows x 10 mixed columns) it writes a CSV (and an XLSX for the
smaller sizes), in two variants: ``clean`` (no candidate cells: Great Expectations is never
imported) and ``findings`` (0.1% small counts, some emails in a text column: GX validates the
candidates). For each file, in the same run and interleaved round by round (so machine noise
falls on both sides alike), it measures ``--repeat`` times and reports medians of:

- ``pandas``: a fresh process that imports pandas and reads the file (``read_csv`` /
  ``read_excel``); it reports its read time alone (the baseline of the targets);
- ``check work``: a fresh process that imports the checks, then times ``check_table_file``
  alone (no interpreter start-up, no imports; GX's one-off import is timed separately);
- ``srs check``: the real command, ``srs check FILE --format json``, as a whole process, twice:
  *cold* (``--no-server``: the process imports everything itself, GX included) and *warm*
  (with ``srs check-server`` running, as ``make run`` keeps one: the process hands the check
  to a forked child of the warm server and prints its report). A warm check's peak memory is
  the larger of the client's and the server child's (its ru_maxrss, which counts the warm
  server's pages it shares).

Peak memory is each process's ru_maxrss (read with RUSAGE_CHILDREN in a fresh wrapper process).
Targets (issue #14), all whole processes against a baseline measured in the same run:
- 1M-row CSV with findings: ``srs check`` at most 2x a pandas process that only reads the file,
  peak memory at most 1.5x;
- 100k-row xlsx: ``srs check`` at most 0.5x a ``pandas.read_excel`` (openpyxl) process;
- a small request (12-row CSV, a short script, a form): ``srs check`` under 1.5 s;
- a request of 20 mixed files in one process, reported against the sum of per-file processes.

    .venv/bin/python scripts/bench_checks.py                    # everything (make bench)
    .venv/bin/python scripts/bench_checks.py --sizes 1000000 --xlsx-sizes ""
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python")

BASELINE = """
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
t1 = time.perf_counter()
path = sys.argv[1]
df = pd.read_csv(path) if path.endswith(".csv") else pd.read_excel(path, sheet_name=None)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "work": t2 - t1}))
"""

DIRECT = """
import json, os, pathlib, sys, time
os.environ["GX_ANALYTICS_ENABLED"] = "false"
t0 = time.perf_counter()
import pyarrow, pyarrow.compute, pyarrow.csv, numpy, openpyxl, pandas
from include.checks.policy import CheckPolicy
from include.checks.tabular import STATS, check_table_file
t1 = time.perf_counter()
path = pathlib.Path(sys.argv[1])
findings = check_table_file(path, path.name, path.suffix[1:], CheckPolicy())
t2 = time.perf_counter()
gx = "great_expectations" in sys.modules
print(json.dumps({"import": t1 - t0, "work": t2 - t1 - STATS["gx_import_s"],
                  "gx_import": STATS["gx_import_s"], "findings": len(findings), "gx": gx}))
"""

GX_IMPORT = """
import os, time
os.environ["GX_ANALYTICS_ENABLED"] = "false"
import pandas
t0 = time.perf_counter()
import include.checks.suites
print(time.perf_counter() - t0)
"""


def generate(n: int, variant: str, seed: int = 1):
    """A statistical-output-like table: geography, year, sex, SIC, category, count, mean,
    percentage, event date, project id."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    areas = np.array([f"E0{6 + i % 3}{i:06d}" for i in range(1000)])
    counts = rng.integers(10, 5000, n)
    notes = rng.choice(["", "provisional", "revised", "see note 3"], n)
    if variant == "findings":
        small = rng.random(n) < 0.001
        counts[small] = rng.integers(1, 10, small.sum())
        counts[rng.random(n) < 0.001] = 0  # zero cells
        emails = rng.random(n) < 0.0005
        notes = notes.astype(object)
        notes[emails] = "contact jane.smith@example.org"
    return pd.DataFrame(
        {
            "area_code": areas[rng.integers(0, 1000, n)],
            "year": rng.integers(2010, 2024, n),
            "sex": rng.choice(["Male", "Female"], n),
            "sic2007": rng.integers(1000, 99999, n),
            "category": rng.choice(
                ["Managers", "Professional", "Skilled trades", "Caring, leisure", "Elementary"], n
            ),  # fmt: skip
            "count": counts,
            "mean_income": rng.normal(30000, 5000, n).round(2),
            "percentage": rng.uniform(0.1, 99.9, n).round(1),
            "event_date": (np.datetime64("2020-01-01") + rng.integers(0, 1000, n)).astype(str),
            "notes": notes,
        }
    )


def write_xlsx(df, path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Table 1")
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append([v.item() if hasattr(v, "item") else v for v in row])
    wb.save(path)


def measure(argv: list[str], ok: tuple[int, ...] = (0,), env: dict | None = None) -> dict:
    """Run argv in a fresh wrapper process; wall time and the child's peak RSS.

    ``ok``: exit statuses that mean the command worked (`srs check` exits 1 when it finds
    something blocking, which is a result, not a failure)."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'wall': wall, 'rss_mb': rss, 'rc': p.returncode,"
        " 'out': p.stdout[-4000:], 'err': p.stderr[-2000:]}))\n"
    )
    done = subprocess.run(
        [PYTHON, "-c", wrapper, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        env=env,
    )
    result = json.loads(done.stdout)
    if result["rc"] not in ok:
        raise RuntimeError(f"{argv} failed: {result['err']}")
    return result


TIME_TARGET, MEMORY_TARGET = 2.0, 1.5  # issue #14, 1M-row CSV: srs check / pandas process
XLSX_TARGET = 0.5  # issue #14, 100k-row xlsx: srs check / pandas read_excel process
SMALL_TARGET_S = 1.5  # issue #14, a small request


def write_small_request(folder: Path) -> Path:
    """A 12-row CSV of counts (nothing for GX to validate), a short script and a blank form."""
    import csv

    from include.checks.request_form import write_output_form_template

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "table1.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["region", "sex", "count", "mean_income"])
        for i in range(12):
            w.writerow(
                [f"E1200000{i % 9 + 1}", "Male" if i % 2 else "Female", 40 + i * 7, 31000.5 + i]
            )
    (folder / "analysis.py").write_text(
        "import pandas as pd\ndf = pd.read_csv('input.csv')\n"
        "print(df.groupby('region')['count'].sum())\n"
    )
    write_output_form_template(folder / "output_request_form.xlsx")
    return folder


def write_mixed_request(folder: Path) -> Path:
    """20 files: 6 CSV (2 with findings), 4 xlsx, 4 docx, 2 pdf, 4 scripts."""
    import docx
    from pypdf import PdfWriter

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        generate(2000, "findings" if i < 2 else "clean", seed=i).to_csv(
            folder / f"table{i}.csv", index=False
        )
    for i in range(4):
        write_xlsx(generate(2000, "clean", seed=10 + i), folder / f"sheet{i}.xlsx")
    for i in range(4):
        d = docx.Document()
        d.add_heading(f"Report {i}", 1)
        for j in range(20):
            d.add_paragraph(f"Paragraph {j}: the rate rose by {j + 1}% in 2021 across regions.")
        d.save(folder / f"report{i}.docx")
    for i in range(2):
        w = PdfWriter()
        w.add_blank_page(595, 842)
        with (folder / f"figure{i}.pdf").open("wb") as fh:
            w.write(fh)
    for i in range(4):
        (folder / f"model{i}.py").write_text(
            f"import statsmodels.api as sm\n# model {i}\nfit = sm.OLS(y, X).fit()\nprint(fit.summary())\n"
        )
    return folder


class WarmServer:
    """``srs check-server`` for the benchmark's warm runs, in a socket folder of its own."""

    def __init__(self, workdir: Path) -> None:
        folder = workdir / "check-server"
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
        self.stats = workdir / "check-server-stats.jsonl"
        self.env = {**os.environ, "SRS_CHECK_SERVER_DIR": str(folder),
                    "SRS_CHECK_STATS": str(self.stats)}  # fmt: skip
        self.env.pop("SRS_CHECK_SERVER", None)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> WarmServer:
        srs = str(REPO / ".venv" / "bin" / "srs")
        socket = subprocess.run(
            [srs, "check-server", "--print-socket"],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.proc = subprocess.Popen([srs, "check-server"], env=self.env, cwd=REPO,
                                     stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(600):
            if Path(socket).exists():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("srs check-server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)

    def measure(self, argv: list[str]) -> dict:
        """A warm `srs check`; rss_mb is the larger of the client's and the server child's."""
        before = self.stats.read_text().count("\n") if self.stats.exists() else 0
        result = measure(argv, ok=(0, 1), env=self.env)
        lines = self.stats.read_text().splitlines() if self.stats.exists() else []
        if len(lines) != before + 1:
            raise RuntimeError(f"{argv} was not checked by the warm server")
        child_mb = json.loads(lines[-1])["peak_kb"] / 1024
        return {**result, "rss_mb": max(result["rss_mb"], child_mb)}


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _files(args: argparse.Namespace, workdir: Path) -> list[tuple[str, int, str, Path]]:
    files: list[tuple[str, int, str, Path]] = []
    xlsx_sizes = {int(s) for s in args.xlsx_sizes.split(",") if s}
    for n in (int(s) for s in args.sizes.split(",") if s):
        for variant in args.variants.split(","):
            df = None
            csv_path = workdir / f"bench_{n}_{variant}.csv"
            if not csv_path.exists():
                df = generate(n, variant)
                df.to_csv(csv_path, index=False)
            files.append(("csv", n, variant, csv_path))
            if n in xlsx_sizes:
                xlsx_path = workdir / f"bench_{n}_{variant}.xlsx"
                if not xlsx_path.exists():
                    write_xlsx(df if df is not None else generate(n, variant), xlsx_path)
                files.append(("xlsx", n, variant, xlsx_path))
    return files


def _measure_file(path: Path, repeat: int, warm: WarmServer) -> dict[str, float]:
    """Medians over ``repeat`` interleaved rounds of pandas, check work and srs check (cold
    and warm)."""
    srs = _srs(path)
    runs: dict[str, list[float]] = {}
    findings = gx = None
    for _ in range(repeat):
        base = measure([PYTHON, "-c", BASELINE, str(path)])
        direct = measure([PYTHON, "-c", DIRECT, str(path)])
        whole = measure([*srs, "--no-server"], ok=(0, 1))  # exit 1 = blocking findings
        served = warm.measure(srs)
        b = json.loads(base["out"].strip().splitlines()[-1])
        d = json.loads(direct["out"].strip().splitlines()[-1])
        for key, value in (
            ("pandas_wall", base["wall"]), ("pandas_read", b["work"]),
            ("pandas_mb", base["rss_mb"]), ("work", d["work"]), ("gx_import", d["gx_import"]),
            ("srs_wall", whole["wall"]), ("srs_mb", whole["rss_mb"]),
            ("warm_wall", served["wall"]), ("warm_mb", served["rss_mb"]),
        ):  # fmt: skip
            runs.setdefault(key, []).append(value)
        findings, gx = d["findings"], d["gx"]
    out = {key: _median(values) for key, values in runs.items()}
    # The fastest round of each: timeit's lower bound, least disturbed by other processes.
    out.update(findings=findings, gx=gx, work_min=min(runs["work"]),
               pandas_read_min=min(runs["pandas_read"]))  # fmt: skip
    return out


def _srs(path: Path) -> list[str]:
    return [str(REPO / ".venv" / "bin" / "srs"), "check", str(path), "--format", "json"]


def _requests(workdir: Path, repeat: int, warm: WarmServer) -> list[str]:
    """The small request's whole process, and 20 mixed files in one process vs one each,
    cold and warm."""
    small = write_small_request(workdir / "small_request")
    mixed = write_mixed_request(workdir / "mixed_request")
    lines = []
    for name, run in (
        ("cold", lambda argv: measure([*argv, "--no-server"], ok=(0, 1))),
        ("warm", warm.measure),
    ):
        small_s = _median([run(_srs(small))["wall"] for _ in range(repeat)])
        one = _median([run(_srs(mixed))["wall"] for _ in range(repeat)])
        each = sum(run(_srs(f))["wall"] for f in sorted(mixed.iterdir()))
        verdict = "MET" if small_s < SMALL_TARGET_S else "NOT MET"
        lines += [
            f"Small request (12-row CSV, a script, a form), {name}: srs check {small_s:.2f} s "
            f"(target < {SMALL_TARGET_S:g} s): {verdict}",
            f"20 mixed files (6 CSV, 4 xlsx, 4 docx, 2 pdf, 4 scripts), {name}: one srs check "
            f"process {one:.2f} s; 20 processes, one per file, {each:.2f} s in all "
            f"({one / each:.2f}x)",
        ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--xlsx-sizes",
        default="10000,100000",
        help="1M-row XLSX is impractical: openpyxl takes minutes to write it",
    )
    parser.add_argument("--variants", default="clean,findings")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per file (medians)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="srs-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    with WarmServer(workdir) as warm:
        for fmt, n, variant, path in _files(args, workdir):
            m = _measure_file(path, args.repeat, warm)
            rows.append((fmt, n, variant, path.stat().st_size, m))
            print(f"measured {path.name}", file=sys.stderr, flush=True)
        gx_import = _median([float(measure([PYTHON, "-c", GX_IMPORT])["out"])
                             for _ in range(args.repeat)])  # fmt: skip
        requests = _requests(workdir, args.repeat, warm)

    print(f"\nMedians of {args.repeat} interleaved rounds. GX import alone: {gx_import:.1f} s "
          "(once per process, only when a table has candidate cells).\n")  # fmt: skip
    print("| file | rows | MB | pandas read s | check work s | work ratio | "
          "pandas process s | srs check cold s | cold ratio | srs check warm s | "
          "**warm ratio** | pandas peak MB | cold peak MB | cold mem | warm peak MB | "
          "**warm mem** | findings | GX used (import s) |")  # fmt: skip
    print(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    verdicts = []
    for fmt, n, variant, size, m in rows:
        work_ratio = m["work"] / m["pandas_read"]
        cold_ratio = m["srs_wall"] / m["pandas_wall"]
        warm_ratio = m["warm_wall"] / m["pandas_wall"]
        cold_mem = m["srs_mb"] / m["pandas_mb"]
        warm_mem = m["warm_mb"] / m["pandas_mb"]
        print(
            f"| {fmt} {variant} | {n:,} | {size / 1e6:.1f} | {m['pandas_read']:.2f} | "
            f"{m['work']:.2f} | {work_ratio:.2f} | {m['pandas_wall']:.2f} | "
            f"{m['srs_wall']:.2f} | {cold_ratio:.2f} | {m['warm_wall']:.2f} | {warm_ratio:.2f} | "
            f"{m['pandas_mb']:.0f} | {m['srs_mb']:.0f} | {cold_mem:.2f} | {m['warm_mb']:.0f} | "
            f"{warm_mem:.2f} | {m['findings']} | {m['gx']} ({m['gx_import']:.1f}) |"
        )
        for name, ratio, mem in (("warm", warm_ratio, warm_mem), ("cold", cold_ratio, cold_mem)):
            if fmt == "csv" and n == 1_000_000:
                ok = ratio <= TIME_TARGET and mem <= MEMORY_TARGET
                verdicts.append(f"1M-row CSV ({variant}), {name}: whole process {ratio:.2f}x "
                                f"(target <= {TIME_TARGET:g}x), memory {mem:.2f}x (target <= "
                                f"{MEMORY_TARGET:g}x): {'MET' if ok else 'NOT MET'}")  # fmt: skip
            if fmt == "xlsx" and n == 100_000:
                ok = ratio <= XLSX_TARGET
                verdicts.append(f"100k-row xlsx ({variant}), {name}: whole process {ratio:.2f}x "
                                f"read_excel's (target <= {XLSX_TARGET:g}x): "
                                f"{'MET' if ok else 'NOT MET'}")  # fmt: skip
    print("\nratio = whole srs check process / whole pandas process (interpreter, imports and "
          "all); cold = --no-server, warm = with srs check-server running. work ratio = "
          "check_table_file alone (for GX rows it includes building the GX context and "
          "validating, not importing GX) / pandas read time alone. mem = srs check peak / "
          "pandas process peak.")  # fmt: skip
    for line in verdicts + requests:
        print(line)
    print(f"files kept in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
