"""Benchmark the table checks against plain pandas reading the same file.

For each size (10k, 100k, 1M rows x 10 mixed columns) it writes a CSV (and an XLSX for the
smaller sizes), in two variants: ``clean`` (no candidate cells: Great Expectations is never
imported) and ``findings`` (0.1% small counts, some emails in a text column: GX validates the
candidates). Each measurement runs in a fresh process; peak memory is that process's ru_maxrss
(read with resource.getrusage(RUSAGE_CHILDREN) in a fresh wrapper process per measurement).

    .venv/bin/python scripts/bench_checks.py --cmd direct            # check_table_file
    .venv/bin/python scripts/bench_checks.py --cmd srs               # .venv/bin/srs check FILE

Times: ``wall`` is the whole process (interpreter start, imports, work); ``work`` excludes
imports (reported by the child, direct mode only) and ``gx import`` is GX's one-off cost when a
file needed it (also reported separately: it is a fixed per-process cost, ~10-16 s here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
        emails = rng.random(n) < 0.0005
        notes = notes.astype(object)
        notes[emails] = "contact jane.smith@example.org"
    return pd.DataFrame(
        {
            "area_code": areas[rng.integers(0, 1000, n)],
            "year": rng.integers(2010, 2024, n),
            "sex": rng.choice(["Male", "Female"], n),
            "sic2007": rng.integers(1000, 99999, n),
            "category": rng.choice(["Managers", "Professional", "Skilled trades",
                                    "Caring, leisure", "Elementary"], n),  # fmt: skip
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


def measure(argv: list[str], ok: tuple[int, ...] = (0,)) -> dict:
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
        [PYTHON, "-c", wrapper, *argv], capture_output=True, text=True, cwd=REPO, check=True
    )
    result = json.loads(done.stdout)
    if result["rc"] not in ok:
        raise RuntimeError(f"{argv} failed: {result['err']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cmd", choices=["srs", "direct"], default="direct")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--xlsx-sizes", default="10000,100000",
                        help="1M-row XLSX is impractical: openpyxl takes minutes to write it")
    parser.add_argument("--variants", default="clean,findings")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="srs-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env_note = os.environ.get("PYTHONDONTWRITEBYTECODE")

    files: list[tuple[str, int, str, Path]] = []
    sizes = [int(s) for s in args.sizes.split(",") if s]
    xlsx_sizes = {int(s) for s in args.xlsx_sizes.split(",") if s}
    for n in sizes:
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

    gx_import = measure([PYTHON, "-c", GX_IMPORT])
    rows = []
    for fmt, n, variant, path in files:
        base = measure([PYTHON, "-c", BASELINE, str(path)])
        if args.cmd == "srs":
            argv = [str(REPO / ".venv" / "bin" / "srs"), "check", str(path), "--format", "json"]
        else:
            argv = [PYTHON, "-c", DIRECT, str(path)]
        chk = measure(argv, ok=(0, 1) if args.cmd == "srs" else (0,))
        b = json.loads(base["out"].strip().splitlines()[-1])
        c = json.loads(chk["out"].strip().splitlines()[-1]) if args.cmd == "direct" else {}
        rows.append((fmt, n, variant, path.stat().st_size, base, b, chk, c))
        print(f"measured {path.name}", file=sys.stderr, flush=True)

    print(f"\nGX import alone: {float(gx_import['out']):.1f} s "
          f"(PYTHONDONTWRITEBYTECODE={env_note!r}: no .pyc cache, so imports compile)\n")  # fmt: skip
    print("| file | rows | MB | pandas wall s | check wall s | wall ratio | pandas read s | "
          "check work s | work ratio | pandas peak MB | check peak MB | mem ratio | "
          "findings | GX used (import s) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for fmt, n, variant, size, base, b, chk, c in rows:
        work = c.get("work")
        work_s = f"{work:.2f}" if work is not None else "n/a"
        work_ratio = f"{work / b['work']:.2f}" if work is not None else "n/a"
        print(
            f"| {fmt} {variant} | {n:,} | {size / 1e6:.1f} | {base['wall']:.2f} | "
            f"{chk['wall']:.2f} | {chk['wall'] / base['wall']:.2f} | {b['work']:.2f} | "
            f"{work_s} | {work_ratio} | {base['rss_mb']:.0f} | {chk['rss_mb']:.0f} | "
            f"{chk['rss_mb'] / base['rss_mb']:.2f} | {c.get('findings', 'n/a')} | "
            f"{c.get('gx', 'n/a')} ({c.get('gx_import', 0):.1f}) |"
        )
    print("\nwork ratio = check time excluding imports / pandas read time excluding imports; "
          "for rows where GX was used, check work includes building the context and "
          "validating the candidates but not importing GX.")  # fmt: skip
    print(f"files kept in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
