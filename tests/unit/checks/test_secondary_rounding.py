"""`unrounded` and `rounding_undone`, each beside consistent rounding, and `context_missing`
beside a full form entry."""

from __future__ import annotations

from dataclasses import replace

from include.checks.context import context_findings
from include.checks.findings import Severity
from include.checks.policy import CheckPolicy
from include.checks.request_form import FileEntry
from include.checks.secondary import secondary_findings
from tests.unit.checks.secondary_tables import table

POLICY = CheckPolicy(threshold=10)


def rule(findings, name):
    return [f for f in findings if f.rule == name]


# -- unrounded


def test_unrounded_is_review_by_default_and_block_when_the_registry_sets_a_base():
    t = table("t.csv", ["region", "count"], [["North", 120], ["South", 203], ["East", 47]])
    default = rule(secondary_findings([t], [], POLICY), "unrounded")
    assert len(default) == 1 and default[0].severity == Severity.REVIEW
    assert default[0].location.row == 3 and "2 of the counts" in default[0].message
    required = replace(POLICY, rounding_base=10, rounding_required=True)
    hits = rule(secondary_findings([t], [], required), "unrounded")
    assert hits[0].severity == Severity.BLOCK and "multiples of 10" in hits[0].message


def test_rounded_counts_and_non_count_columns_are_not_unrounded():
    t = table("t.csv", ["region", "count", "mean_income"],
              [["North", 120], ["South", 205], ["East", 0]])  # fmt: skip
    t2 = table("t2.csv", ["region", "count", "mean_income"],
               [["North", 120, 31234.5], ["South", 205, 29871.2]])  # fmt: skip
    assert not rule(secondary_findings([t, t2], [], POLICY), "unrounded")
    base10 = replace(POLICY, rounding_base=10, rounding_required=True)
    assert rule(secondary_findings([t2], [], base10), "unrounded")  # 205 is not a multiple of 10


# -- rounding_undone


def test_percentages_from_unrounded_counts_undo_the_rounding():
    # True counts 123 and 877 of 1,000, rounded to 125 and 875; percentages from the true ones.
    t = table("t.csv", ["region", "count", "percent"],
              [["North", 125, "12.3"], ["South", 875, "87.7"]])  # fmt: skip
    hits = rule(secondary_findings([t], [], POLICY), "rounding_undone")
    assert len(hits) == 1 and hits[0].severity == Severity.BLOCK
    assert hits[0].location.column == "percent" and "123" in hits[0].message


def test_percentages_from_the_rounded_counts_are_consistent():
    t = table("t.csv", ["region", "count", "percent"],
              [["North", 125, "12.5"], ["South", 875, "87.5"]])  # fmt: skip
    assert not rule(secondary_findings([t], [], POLICY), "rounding_undone")


def test_coarse_percentages_do_not_undo_the_rounding():
    # Whole percentages of 1,000 pin a count to within 10 people: coarser than the base of 5.
    t = table("t.csv", ["region", "count", "percent"], [["North", 125, "12"], ["South", 875, "88"]])
    assert not rule(secondary_findings([t], [], POLICY), "rounding_undone")


def test_percentages_within_groups_of_a_two_way_table():
    # Percent of each region's total; true North F 33 of 100 rounded to 35.
    t = table("t.csv", ["region", "sex", "count", "pct"],
              [["North", "F", 35, "33.0"], ["North", "M", 65, "67.0"],
               ["South", "F", 100, "50.0"], ["South", "M", 100, "50.0"]])  # fmt: skip
    assert rule(secondary_findings([t], [], POLICY), "rounding_undone")
    ok = table("t.csv", ["region", "sex", "count", "pct"],
               [["North", "F", 35, "35.0"], ["North", "M", 65, "65.0"],
                ["South", "F", 100, "50.0"], ["South", "M", 100, "50.0"]])  # fmt: skip
    assert not rule(secondary_findings([ok], [], POLICY), "rounding_undone")


def test_a_percentage_of_something_else_is_not_read_as_the_counts_share():
    # pct_smokers is a share within each region, not of the counts: no denominator fits.
    t = table("t.csv", ["region", "count", "pct_smokers"],
              [["North", 125, "21.37"], ["South", 875, "18.02"], ["East", 300, "40.55"]])  # fmt: skip
    assert not rule(secondary_findings([t], [], POLICY), "rounding_undone")


def test_sum_and_mean_give_the_unrounded_count():
    t = table("t.csv", ["region", "count", "sum_income", "mean_income"],
              [["North", 125, 369000, "3000"], ["South", 875, 2600000, "2971.43"]])  # fmt: skip
    hits = rule(secondary_findings([t], [], POLICY), "rounding_undone")
    assert hits and "123" in hits[0].message  # 369,000 / 3,000
    ok = table("t.csv", ["region", "count", "sum_income", "mean_income"],
               [["North", 125, 375000, "3000"], ["South", 875, 2600000, "2971.43"]])  # fmt: skip
    assert not rule(secondary_findings([ok], [], POLICY), "rounding_undone")


# -- context_missing


def entry(**over) -> FileEntry:
    base = dict(
        name="t.csv",
        description="Households by region and tenure, 2021",
        data_and_variables="Census 2021: region, tenure",
        methodology="Frequency table of complete records",
        role="output",
    )
    return FileEntry(**{**base, **over})


def test_full_context_entry_passes():
    assert not context_findings(entry(), "t.csv")


def test_thin_or_placeholder_context_is_for_review():
    hits = context_findings(entry(description="table", methodology="see above"), "t.csv")
    assert {h.kind for h in hits} == {"description", "methodology"}
    assert all(h.severity == Severity.REVIEW and h.location.file == "t.csv" for h in hits)
    one_word = context_findings(entry(data_and_variables="Census"), "t.csv")
    assert [h.kind for h in one_word] == ["data_and_variables"]


def test_empty_context_is_left_to_request_form_incomplete():
    assert not context_findings(entry(methodology=""), "t.csv")


def test_proportions_of_one_undo_the_rounding_too():
    # Shares of 1: 0.123 of 1,000 is 123, not the rounded 125.
    share = table("t.csv", ["region", "count", "proportion"],
                  [["North", 125, "0.123"], ["South", 875, "0.877"]])  # fmt: skip
    assert rule(secondary_findings([share], [], POLICY), "rounding_undone")
    ok = table("t.csv", ["region", "count", "proportion"],
               [["North", 125, "0.125"], ["South", 875, "0.875"]])  # fmt: skip
    assert not rule(secondary_findings([ok], [], POLICY), "rounding_undone")
