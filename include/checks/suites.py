"""The expectation suites that ARE the tabular rules (threshold, zero and full cells, negative
values, degrees of freedom, min/max, dominance, p%, value-led and header-led identifiers).

``include.checks.tabular`` gathers a table's candidate cells into one pandas DataFrame (one
frame column per rule family, each candidate with its ``srs_row`` and ``srs_col``), describes
which expectation applies to which frame column (a plan of ``SuiteSpec``), and asks this module
to build one suite and validate it. Locations come back from GX itself: COMPLETE results with
``unexpected_index_column_names`` = (``srs_row``, ``srs_col``). Project parameters are suite
parameters supplied at run time (``suite_parameters``).

GX runs in an ephemeral (in-memory) context: no project folder, no files, analytics and
progress bars off. One context per process, created on first use.
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"

import contextlib  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

# GX imports these at module level for expectations and renderers the checks never run
# (KL divergence, charts): about a third of its 3 s import (python -X importtime). They are
# loaded lazily, on first attribute access, which the SRS rules never make.
LAZY_DURING_GX_IMPORT = ("scipy.stats", "altair")


class _LazyFinder(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.names:
            return None
        sys.meta_path.remove(self)  # find the real spec without finding ourselves
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


@contextlib.contextmanager
def _lazy(names: Sequence[str]) -> Iterator[None]:
    finder = _LazyFinder([n for n in names if n not in sys.modules])
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


with _lazy(LAZY_DURING_GX_IMPORT):
    import great_expectations as gx
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from include.checks import expectations as ex  # noqa: E402
from include.checks.policy import CheckPolicy  # noqa: E402

# The parameter names the suites use; values come from the project's CheckPolicy at run time.
THRESHOLD = {"$PARAMETER": "threshold"}
DOMINANCE_K = {"$PARAMETER": "dominance_k"}
P_RATIO = {"$PARAMETER": "p_ratio"}
ALLOWED_INDIRECT = {"$PARAMETER": "allowed_indirect"}
MIN_DOF = {"$PARAMETER": "min_degrees_of_freedom"}

ROW, COL = "srs_row", "srs_col"  # the candidate frame's location columns
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "include_unexpected_rows": False,
    "unexpected_index_column_names": [ROW, COL],
    "return_unexpected_index_query": False,  # a pandas filter string as long as the list
    # With (srs_row, srs_col) as the frame's index, GX lists the locations as two lists (one
    # .at lookup per failing cell otherwise: 40 s for 100,000 candidates).
    "exclude_unexpected_values": True,
}

# Identifier kinds with an expectation class of their own; any other kind is decided by the
# general class limited to that kind.
KIND_EXPECTATIONS: dict[str, type] = {
    "nhs_number": ex.ExpectColumnValuesToNotBeValidNhsNumbers,
    "ni_number": ex.ExpectColumnValuesToNotBeValidNiNumbers,
    "postcode": ex.ExpectColumnValuesToNotBeFullPostcodes,
    "email": ex.ExpectColumnValuesToNotBeEmailAddresses,
    "phone": ex.ExpectColumnValuesToNotBeUkPhoneNumbers,
}


@dataclass(frozen=True)
class SuiteSpec:
    """One expectation of a table's suite: which rule, on which (candidate-frame) columns."""

    # threshold | zero_cell | full_cell | negative_values | degrees_of_freedom | min_max |
    # identifier (options: kind) | header_identifier (options: kind, header) | dominance | p_ratio
    rule: str
    columns: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def suite_parameters(policy: CheckPolicy) -> dict[str, Any]:
    """The run-time values of the suite parameters for one project."""
    return {
        "threshold": policy.threshold,
        "dominance_k": policy.dominance_k,
        "p_ratio": policy.p_ratio,
        "allowed_indirect": sorted(policy.allowed_indirect),
        "min_degrees_of_freedom": policy.min_degrees_of_freedom,
    }


def expectation_for(spec: SuiteSpec) -> Any:
    """The GX expectation implementing one spec."""
    column = spec.columns[0]
    if spec.rule == "threshold":
        return ex.ExpectCountsAtOrAboveThreshold(column=column, threshold=THRESHOLD)
    if spec.rule == "zero_cell":
        return ex.ExpectCountsToNotBeZero(column=column)
    if spec.rule == "full_cell":
        return ex.ExpectPercentagesToNotBeZeroOrFull(column=column)
    if spec.rule == "negative_values":
        return ex.ExpectValuesToNotBeNegative(column=column)
    if spec.rule == "degrees_of_freedom":
        return ex.ExpectDegreesOfFreedomAtOrAboveMinimum(column=column, minimum=MIN_DOF)
    if spec.rule == "min_max":
        return ex.ExpectColumnValuesToNotBeMinMaxValues(column=column)
    if spec.rule == "identifier":
        context = bool(spec.options.get("business_ref_context", False))
        kind = spec.options.get("kind")
        if kind in KIND_EXPECTATIONS:
            return KIND_EXPECTATIONS[kind](
                column=column, allowed_kinds=ALLOWED_INDIRECT, business_ref_context=context
            )
        return ex.ExpectColumnValuesToNotContainIdentifiers(
            column=column,
            kinds=[kind] if kind else None,
            allowed_kinds=ALLOWED_INDIRECT,
            business_ref_context=context,
        )
    if spec.rule == "header_identifier":
        return ex.ExpectColumnValuesToNotBeHeaderLedIdentifiers(
            column=column,
            kind=spec.options["kind"],
            header=spec.options["header"],
            allowed_kinds=ALLOWED_INDIRECT,
        )
    if spec.rule == "dominance":
        return ex.ExpectCellsToPassNkDominance(column_list=list(spec.columns), k=DOMINANCE_K)
    if spec.rule == "p_ratio":
        return ex.ExpectCellsToPassPRatio(column_list=list(spec.columns), p=P_RATIO)
    raise ValueError(f"unknown suite rule {spec.rule!r}")


def build_suite(name: str, specs: Sequence[SuiteSpec]) -> gx.ExpectationSuite:
    """An (unsaved) expectation suite holding one expectation per spec, in order."""
    runtime()  # GX needs an active context before a suite can hold expectations
    suite = gx.ExpectationSuite(name=name)
    for spec in specs:
        suite.add_expectation(expectation_for(spec))
    return suite


def threshold_suite(columns: Sequence[str]) -> gx.ExpectationSuite:
    """The threshold rule for the given count columns."""
    return build_suite("srs_threshold", [SuiteSpec("threshold", (c,)) for c in columns])


def identifier_suite(columns: Sequence[str]) -> gx.ExpectationSuite:
    """The value-led identifier rule for the given columns."""
    return build_suite("srs_identifiers", [SuiteSpec("identifier", (c,)) for c in columns])


def dominance_suite(x_columns: Sequence[str], total: str) -> gx.ExpectationSuite:
    """The n,k dominance and p% rules over evidence columns x1 (x2 ...) and total."""
    specs = [SuiteSpec("dominance", (*x_columns, total))]
    if len(x_columns) >= 2:
        specs.append(SuiteSpec("p_ratio", (x_columns[0], x_columns[1], total)))
    return build_suite("srs_dominance", specs)


class _Runtime:
    """The process's one ephemeral GX context and pandas batch definition."""

    def __init__(self) -> None:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        source = context.data_sources.add_pandas("srs_checks")
        asset = source.add_dataframe_asset("candidate_cells")
        self.context = context
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole")


_RUNTIME: _Runtime | None = None


def runtime() -> _Runtime:
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = _Runtime()
    return _RUNTIME


def validate(frame: pd.DataFrame, suite: gx.ExpectationSuite, parameters: dict[str, Any]) -> Any:
    """Validate ``suite`` on ``frame`` with run-time ``parameters``; COMPLETE results, so
    every failing cell comes back with its location. ``frame``'s index must name ``srs_row``
    and ``srs_col`` (a MultiIndex; more levels may follow to keep it unique)."""
    batch = runtime().batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, expectation_parameters=parameters, result_format=RESULT_FORMAT)


@dataclass(frozen=True)
class Unexpected:
    """One expectation's verdict: its type and columns, and the failing cells' locations."""

    type: str
    columns: tuple[str, ...]
    rows: list[int]  # srs_row of each failing cell, in frame order
    cols: list[int]  # srs_col of each failing cell
    raised: bool  # GX could not evaluate it (the check must not pass silently)


def unexpected_rows(result: Any) -> list[Unexpected]:
    """Per expectation result, in suite order, the failing cells' (srs_row, srs_col)."""
    out = []
    for r in result.results:
        kwargs = r.expectation_config.kwargs
        columns = tuple(kwargs.get("column_list") or (kwargs["column"],))
        raised = bool((r.exception_info or {}).get("raised_exception"))
        found = r.result.get("unexpected_index_list") or [{}]
        out.append(
            Unexpected(
                type=r.expectation_config.type,
                columns=columns,
                rows=[int(v) for v in found[0].get(ROW, ())],
                cols=[int(v) for v in found[0].get(COL, ())],
                raised=raised,
            )
        )
    return out
