"""The parameters a check runs with: the project's (and its datasets') SDC policy."""

from __future__ import annotations

from dataclasses import dataclass, field

# Defaults from shared/RULES.md (common TRE practice and ACRO's defaults).
DEFAULT_THRESHOLD = 10
DEFAULT_DOMINANCE_N = 2
DEFAULT_DOMINANCE_K = 0.90
DEFAULT_P_RATIO = 0.10
DEFAULT_MIN_DOF = 10
DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024
DEFAULT_ROUNDING_BASE = 5  # ACRO's

INDIRECT_KINDS = (
    "postcode",
    "date_of_birth",
    "date_of_death",
    "ons_business_ref",
    "school_name",
    "school_id",
)


@dataclass(frozen=True)
class CheckPolicy:
    threshold: int = DEFAULT_THRESHOLD
    dominance_n: int = DEFAULT_DOMINANCE_N
    dominance_k: float = DEFAULT_DOMINANCE_K
    p_ratio: float = DEFAULT_P_RATIO
    min_degrees_of_freedom: int = DEFAULT_MIN_DOF
    allowed_indirect: frozenset[str] = field(default_factory=frozenset)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Count columns the researcher declared on the request form, by file (relative path).
    declared_counts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Variables approved for ingest/transfer (data minimisation); None: not checked (outputs).
    approved_variables: frozenset[str] | None = None
    # Counts should be multiples of rounding_base; `unrounded` blocks only when the project or
    # a dataset sets it (rounding_required), and asks for review otherwise.
    rounding_base: int = DEFAULT_ROUNDING_BASE
    rounding_required: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.allowed_indirect) - set(INDIRECT_KINDS)
        if unknown:
            raise ValueError(
                f"unknown indirect-identifier kind(s) {sorted(unknown)}; "
                f"known kinds: {', '.join(INDIRECT_KINDS)}"
            )
        if self.threshold < 1:
            raise ValueError("threshold must be at least 1")
