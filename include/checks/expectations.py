"""Custom Great Expectations (GX Core 1.x) expectations: the SRS disclosure rules themselves.

Every tabular rule (threshold, zero and full cells, negative values, degrees of freedom,
min/max columns, n,k dominance, p%, value-led and header-led identifiers) is decided here and
nowhere else: ``include.checks.tabular`` only chooses candidate cells (cheap vectorised
prefilters) and turns GX's unexpected rows into findings.

Importing this module imports GX (~3 s, ~160 MB): only ``include.checks.suites`` imports it,
and ``include.checks.tabular`` imports that lazily, the first time a table has candidate cells.
Analytics are switched off before GX is imported.

Each expectation is a map expectation: GX evaluates it value by value (or row by row for the
multi-column dominance rules). Nulls are not evaluated (GX's map expectations skip them), so
one candidate frame can hold several rules' cells side by side.

Parameters that vary by project (threshold, dominance k, p, minimum degrees of freedom, the
permitted indirect kinds) are suite parameters (``{"$PARAMETER": "threshold"}``) supplied at
validation time through ``expectation_parameters``, so one suite serves every project.
"""

from __future__ import annotations

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"

from functools import lru_cache  # noqa: E402
from typing import Any, ClassVar, Literal  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core.suite_parameters import SuiteParameterDict  # noqa: E402
from great_expectations.execution_engine import PandasExecutionEngine  # noqa: E402
from great_expectations.expectations.expectation import (  # noqa: E402
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (  # noqa: E402
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)

from include.checks.identifiers import (  # noqa: E402
    header_value_validates,
    value_identifier_kinds,
)

# ------------------------------------------------------------------------------- metrics


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce")


class ColumnValuesCountAtOrAboveThreshold(ColumnMapMetricProvider):
    """True where a count is 0 (zero_cell's business), negative, or at least the threshold."""

    condition_metric_name = "column_values.srs_count_at_or_above_threshold"
    condition_value_keys = ("threshold",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, threshold: float, **kwargs: Any) -> pd.Series:
        values = _numbers(column)
        return ~((values > 0) & (values < float(threshold)))


class ColumnValuesNotZero(ColumnMapMetricProvider):
    """True where a count is not 0; with ``full``, a percentage neither 0 nor 100."""

    condition_metric_name = "column_values.srs_not_zero"
    condition_value_keys = ("full",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, full: bool, **kwargs: Any) -> pd.Series:
        values = _numbers(column)
        bad = (values == 0) | (values == 100) if full else values == 0
        return ~bad


class ColumnValuesNotNegative(ColumnMapMetricProvider):
    """True where a value is not below zero."""

    condition_metric_name = "column_values.srs_not_negative"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return ~(_numbers(column) < 0)


class ColumnValuesDegreesOfFreedomAtOrAboveMinimum(ColumnMapMetricProvider):
    """True where residual degrees of freedom are negative (not a count of them) or at least
    the minimum."""

    condition_metric_name = "column_values.srs_dof_at_or_above_minimum"
    condition_value_keys = ("minimum",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, minimum: float, **kwargs: Any) -> pd.Series:
        values = _numbers(column)
        return ~((values >= 0) & (values < float(minimum)))


class ColumnValuesBlank(ColumnMapMetricProvider):
    """True where a cell is blank: a min/max/median/percentile column with any value fails."""

    condition_metric_name = "column_values.srs_blank"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.astype(str).str.strip() == ""


@lru_cache(maxsize=1 << 16)
def _kinds_in(value: str, business_ref_context: bool) -> frozenset[str]:
    """Every identifier kind in one cell. Cached: each kind's expectation asks about the same
    candidate cells, and the text rules are the costly part."""
    return frozenset(value_identifier_kinds(value, business_ref_context=business_ref_context))


class ColumnValuesContainNoIdentifiers(ColumnMapMetricProvider):
    """True where a value holds no validated identifier of ``kinds`` (all kinds when None),
    other than permitted kinds."""

    condition_metric_name = "column_values.srs_contain_no_identifiers"
    condition_value_keys = ("kinds", "allowed_kinds", "business_ref_context")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        column: pd.Series,
        kinds: list[str] | None,
        allowed_kinds: list[str] | None,
        business_ref_context: bool,
        **kwargs: Any,
    ) -> pd.Series:
        allowed = frozenset(allowed_kinds or ())
        wanted = frozenset(kinds) if kinds else None
        context = bool(business_ref_context)

        def clean(value: Any) -> bool:
            found = _kinds_in(str(value), context) - allowed
            return not (found & wanted if wanted is not None else found)

        # Each distinct value once: tables repeat values, and each kind asks again.
        verdict = {value: clean(value) for value in pd.unique(column.to_numpy())}
        return column.map(verdict).astype(bool)


class ColumnValuesAreNotHeaderLedIdentifiers(ColumnMapMetricProvider):
    """True where a value under an identifier header is not that identifier (empty, or fails
    the kind's validation: UPRN digits, passport 9 digits, UKPRN 8 digits starting 1 ...)."""

    condition_metric_name = "column_values.srs_not_header_led_identifier"
    condition_value_keys = ("kind", "header", "allowed_kinds")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        column: pd.Series,
        kind: str,
        header: str,
        allowed_kinds: list[str] | None,
        **kwargs: Any,
    ) -> pd.Series:
        if kind in (allowed_kinds or ()):
            return pd.Series(np.ones(len(column), dtype=bool), index=column.index)
        return column.map(lambda v: not header_value_validates(kind, header, str(v))).astype(bool)


def _numeric_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(pd.to_numeric, errors="coerce")


class MulticolumnValuesPassNkDominance(MulticolumnMapMetricProvider):
    """column_list = [x1, ..., xn, total]: fails where x1 + ... + xn >= k * total (total > 0)."""

    condition_metric_name = "multicolumn_values.srs_pass_nk_dominance"
    condition_value_keys = ("k",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, k: float, **kwargs: Any) -> pd.Series:
        frame = _numeric_frame(column_list)
        top = frame.iloc[:, :-1].fillna(0).sum(axis=1)
        total = frame.iloc[:, -1]
        return ~((total > 0) & (top >= float(k) * total))


class MulticolumnValuesPassPRatio(MulticolumnMapMetricProvider):
    """column_list = [x1, x2, total]: fails where total - x1 - x2 < p * x1 (total > 0)."""

    condition_metric_name = "multicolumn_values.srs_pass_p_ratio"
    condition_value_keys = ("p",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, p: float, **kwargs: Any) -> pd.Series:
        frame = _numeric_frame(column_list)
        x1, x2, total = frame.iloc[:, 0], frame.iloc[:, 1].fillna(0), frame.iloc[:, 2]
        return ~((total > 0) & (total - x1 - x2 < float(p) * x1))


# --------------------------------------------------------------------------- expectations


class ExpectCountsAtOrAboveThreshold(ColumnMapExpectation):
    """Every positive count is at least the project's minimum (exactly the minimum passes)."""

    threshold: int | float | SuiteParameterDict
    map_metric = "column_values.srs_count_at_or_above_threshold"
    success_keys = ("threshold", "mostly")


class ExpectCountsToNotBeZero(ColumnMapExpectation):
    """No count is 0 (zero_cell: a zero can disclose that no one in a group has it)."""

    full: bool = False
    map_metric = "column_values.srs_not_zero"
    success_keys = ("full", "mostly")


class ExpectPercentagesToNotBeZeroOrFull(ExpectCountsToNotBeZero):
    """No percentage is 0 or 100 (zero_cell kind ``full``)."""

    full: bool = True


class ExpectValuesToNotBeNegative(ColumnMapExpectation):
    """No count or contribution is negative (negative_values: dominance is then undefined)."""

    map_metric = "column_values.srs_not_negative"
    success_keys = ("mostly",)


class ExpectDegreesOfFreedomAtOrAboveMinimum(ColumnMapExpectation):
    """A model's residual degrees of freedom are at least the project's minimum."""

    minimum: int | float | SuiteParameterDict
    map_metric = "column_values.srs_dof_at_or_above_minimum"
    success_keys = ("minimum", "mostly")


class ExpectColumnValuesToNotBeMinMaxValues(ColumnMapExpectation):
    """A min/max/median/percentile/mode column holds no value (each may be one observation)."""

    map_metric = "column_values.srs_blank"
    success_keys = ("mostly",)


class ExpectColumnValuesToNotContainIdentifiers(ColumnMapExpectation):
    """No value holds a validated direct or (unpermitted) indirect identifier."""

    kinds: list[str] | None = None
    allowed_kinds: list[str] | SuiteParameterDict | None = None
    business_ref_context: bool = False
    map_metric = "column_values.srs_contain_no_identifiers"
    success_keys = ("kinds", "allowed_kinds", "business_ref_context", "mostly")


class ExpectColumnValuesToNotBeValidNhsNumbers(ExpectColumnValuesToNotContainIdentifiers):
    kinds: list[str] | None = ["nhs_number"]


class ExpectColumnValuesToNotBeValidNiNumbers(ExpectColumnValuesToNotContainIdentifiers):
    kinds: list[str] | None = ["ni_number"]


class ExpectColumnValuesToNotBeFullPostcodes(ExpectColumnValuesToNotContainIdentifiers):
    kinds: list[str] | None = ["postcode"]


class ExpectColumnValuesToNotBeEmailAddresses(ExpectColumnValuesToNotContainIdentifiers):
    kinds: list[str] | None = ["email"]


class ExpectColumnValuesToNotBeUkPhoneNumbers(ExpectColumnValuesToNotContainIdentifiers):
    kinds: list[str] | None = ["phone"]


class ExpectColumnValuesToNotBeHeaderLedIdentifiers(ColumnMapExpectation):
    """A column whose header names an identifier kind holds no value of that kind."""

    kind: str
    header: str
    allowed_kinds: list[str] | SuiteParameterDict | None = None
    map_metric = "column_values.srs_not_header_led_identifier"
    success_keys = ("kind", "header", "allowed_kinds", "mostly")


class ExpectCellsToPassNkDominance(MulticolumnMapExpectation):
    """n,k rule: the n largest contributors (column_list [x1..xn, total]) are < k of the total."""

    k: float | SuiteParameterDict
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = (
        "any_value_is_missing"
    )
    map_metric = "multicolumn_values.srs_pass_nk_dominance"
    success_keys: ClassVar[tuple[str, ...]] = ("k", "mostly")


class ExpectCellsToPassPRatio(MulticolumnMapExpectation):
    """p% rule: total - x1 - x2 >= p * x1 (column_list [x1, x2, total])."""

    p: float | SuiteParameterDict
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = (
        "any_value_is_missing"
    )
    map_metric = "multicolumn_values.srs_pass_p_ratio"
    success_keys: ClassVar[tuple[str, ...]] = ("p", "mostly")
