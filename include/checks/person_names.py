"""People's names in free text without a title or keyword ("Jane Smith").

The source is Faker's en_GB person provider (MIT, released monthly): 364 first names from the
ONS baby-names tables and the 500 commonest surnames in Great Britain. Faker is not imported
(its package import costs ~0.3 s); the provider's source file is read as data with ``ast``, once.

A name is a known first name, an optional middle name or initial, and a known surname, each
capitalised, where neither word is part of a place or venue ("Victoria Park", "St Helen
Road", "Grace Hall Centre"). Found this way a name is evidence for an officer (review): only a
title (Mr, Dr ...) or a header naming the column a name makes it a block (identifiers.py).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PROVIDER = Path("providers", "person", "en_GB", "__init__.py")

# Words that make a capitalised pair a place, a venue or an organisation, not a person.
_PLACE_AFTER = frozenset(
    {"Street", "St", "Road", "Rd", "Avenue", "Lane", "Close", "Drive", "Way", "Crescent",
     "Court", "Place", "Terrace", "Gardens", "Grove", "Square", "Mews", "Row", "Walk", "Parade",
     "Rise", "Park", "Gate", "Wharf", "Hill", "Hall", "House", "Centre", "Center", "School",
     "Academy", "College", "University", "Hospital", "Surgery", "Practice", "Clinic", "Ward",
     "Trust", "Station", "Stadium", "Arena", "Theatre", "Library", "Museum", "Gallery", "Church",
     "Chapel", "Cathedral", "Primary", "Infant", "Infants", "Junior", "Nursery", "Estate",
     "Building", "Bridge", "Airport", "Harbour", "Port", "Market", "Green", "Common", "Wood",
     "Forest", "Valley", "Vale", "Village", "Town", "City", "Borough", "County", "District",
     "Ltd", "Limited", "Plc", "LLP", "Group", "Foundation", "Institute", "Society", "Council",
     "Partnership", "Award", "Prize", "Lecture", "Report", "Review", "Act", "Index", "Scale",
     "Test", "Syndrome", "Disease", "Effect", "Model", "Method", "Rule", "Line", "Cup", "League",
     "Stakes", "Memorial", "Lodge", "Manor", "Farm", "Mill", "Mills", "Works", "Quay", "Dock",
     "Island", "Bay", "Point", "Head", "Castle", "Tower", "Abbey", "Priory", "Heath", "Moor",
     "Marsh", "Fields", "Field", "Cross", "End", "Circus", "Hotel", "Inn", "Arms", "Pub", "Bar",
     "Club", "Ground", "Pool", "Baths", "Leisure", "Sports", "Community", "Medical", "Health",
     "Care", "Campus", "Mall", "Shopping", "Retail", "Business", "Industrial"}
)  # fmt: skip
_PLACE_BEFORE = frozenset(
    {"St", "St.", "Saint", "Port", "Fort", "Mount", "Lake", "Upper", "Lower", "North", "South",
     "East", "West", "Great", "Little", "Old", "New", "Royal", "King", "Queen", "Kings",
     "Queens", "Princess", "Prince", "Lady", "Lord", "Sir", "Cape", "Glen", "Loch", "Ben",
     "Bishop", "Bishops", "Castle", "Market", "Chipping", "Long", "High", "Nether", "Over",
     "The", "Bury", "Church", "Abbey", "Holy", "Our"}
)  # fmt: skip
_WORD = r"[A-Z][a-z]+(?:['-][A-Z][a-z]+)?"
_START = re.compile(r"(?<![\w'-])[A-Z]")
_LAST = rf"(?P<last>(?:O'|Mc|Mac)?{_WORD})(?![\w-])"
# With a middle name or initial first, then without: each tried at every capitalised word,
# so "Interviewed Jane Smith" still finds "Jane Smith".
_NAMES = (
    re.compile(rf"(?P<first>{_WORD})\s+(?P<middle>{_WORD}|[A-Z]\.?)\s+{_LAST}"),
    re.compile(rf"(?P<first>{_WORD})\s+{_LAST}"),
)


@dataclass(frozen=True)
class NameMatch:
    start: int
    end: int


@cache
def _names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, surnames) read from Faker's en_GB provider source."""
    spec = importlib.util.find_spec("faker")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("faker is not installed: it provides the UK name lists")
    source = Path(next(iter(spec.submodule_search_locations)), _PROVIDER).read_text("utf-8")
    lists: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in (
                "first_names_male",
                "first_names_female",
                "last_names",
            ):
                lists[target.id] = {
                    c.value
                    for c in ast.walk(node.value)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                }
    first = lists.get("first_names_male", set()) | lists.get("first_names_female", set())
    last = lists.get("last_names", set())
    if len(first) < 100 or len(last) < 100:
        raise ImportError("faker's en_GB name lists were not found where expected")
    return frozenset(first), frozenset(last)


@cache
def first_name_prefilter() -> str:
    """An RE2-compatible pattern matching a known first name before a capitalised word: the
    vectorised prefilter for table cells (tabular.py runs it with pyarrow)."""
    first, _ = _names()
    return r"\b(?:" + "|".join(sorted(first)) + r")\s+[A-Z]"


def find_person_names(text: str) -> list[NameMatch]:
    """Spans of "First [Middle] Surname" with a known UK first name and surname."""
    first_names, surnames = _names()
    out: list[NameMatch] = []
    taken = 0
    for start in _START.finditer(text):
        pos = start.start()
        if pos < taken:
            continue
        for pattern in _NAMES:
            m = pattern.match(text, pos)
            if m is None or m.group("first") not in first_names:
                continue
            last = m.group("last")
            middle = m.groupdict().get("middle")
            if last not in surnames or last in _PLACE_AFTER or middle in _PLACE_AFTER:
                continue
            if _placelike(text, m.start(), m.end()):
                continue
            out.append(NameMatch(m.start(), m.end()))
            taken = m.end()
            break
    return out


def _placelike(text: str, start: int, end: int) -> bool:
    """A place or venue word just before or after the pair ("St Helen Smith Road")."""
    before = text[:start].rstrip().rsplit(maxsplit=1)
    if before and before[-1].rstrip(",") in _PLACE_BEFORE:
        return True
    after = text[end:].lstrip(" '’s").split(maxsplit=1)
    return bool(after) and after[0].strip(".,;:)") in _PLACE_AFTER
