"""The expectation suites that ARE the threshold, identifier and dominance rules.

``include.checks.tabular`` decides which columns a table's rules apply to (a plan of
``SuiteSpec``), gathers the candidate cells, and asks this module to build one suite per table
and validate it on a pandas DataFrame of candidate rows (index = the row number a person
counts). Project parameters are suite parameters supplied at run time (``suite_parameters``).

GX runs in an ephemeral (in-memory) context: no project folder, no files, analytics and
progress bars off. One context per process, created on first use.
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"

from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from include.checks import expectations as ex  # noqa: E402
from include.checks.policy import CheckPolicy  # noqa: E402

# The parameter names the suites use; values come from the project's CheckPolicy at run time.
THRESHOLD = {"$PARAMETER": "threshold"}
DOMINANCE_K = {"$PARAMETER": "dominance_k"}
P_RATIO = {"$PARAMETER": "p_ratio"}
ALLOWED_INDIRECT = {"$PARAMETER": "allowed_indirect"}

RESULT_FORMAT = {"result_format": "COMPLETE", "include_unexpected_rows": False}


@dataclass(frozen=True)
class SuiteSpec:
    """One expectation of a table's suite: which rule, on which (candidate-frame) columns."""

    rule: str  # threshold | identifier | header_identifier | dominance | p_ratio
    columns: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def suite_parameters(policy: CheckPolicy) -> dict[str, Any]:
    """The run-time values of the suite parameters for one project."""
    return {
        "threshold": policy.threshold,
        "dominance_k": policy.dominance_k,
        "p_ratio": policy.p_ratio,
        "allowed_indirect": sorted(policy.allowed_indirect),
    }


def expectation_for(spec: SuiteSpec) -> Any:
    """The GX expectation implementing one spec."""
    if spec.rule == "threshold":
        return ex.ExpectCountsAtOrAboveThreshold(column=spec.columns[0], threshold=THRESHOLD)
    if spec.rule == "identifier":
        return ex.ExpectColumnValuesToNotContainIdentifiers(
            column=spec.columns[0],
            allowed_kinds=ALLOWED_INDIRECT,
            business_ref_context=bool(spec.options.get("business_ref_context", False)),
        )
    if spec.rule == "header_identifier":
        return ex.ExpectColumnValuesToNotBeHeaderLedIdentifiers(
            column=spec.columns[0],
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
    """Validate ``suite`` on ``frame`` with run-time ``parameters``; COMPLETE results so each
    failing value comes back with its index (the row number)."""
    batch = runtime().batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, expectation_parameters=parameters, result_format=RESULT_FORMAT)


def unexpected_rows(result: Any) -> list[tuple[str, tuple[str, ...], list[Any], bool]]:
    """Per expectation result: (type, columns, unexpected_index_list, raised_exception)."""
    out = []
    for r in result.results:
        kwargs = r.expectation_config.kwargs
        columns = tuple(kwargs.get("column_list") or (kwargs["column"],))
        raised = bool((r.exception_info or {}).get("raised_exception"))
        out.append(
            (
                r.expectation_config.type,
                columns,
                list(r.result.get("unexpected_index_list") or []),
                raised,
            )
        )
    return out
