"""The registry file (YAML): its schema, and the messages a bad file gets.

A file is validated whole before anything is written, so a bad file changes nothing; every
error names the entry (e.g. ``projects[2] (1234567)``) and the field. The YAML is read with
:class:`RegistryLoader`: a key given twice is refused (plain YAML keeps the last one silently,
so a second ``end_date`` would quietly win) and an impossible date is reported as a bad field.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from include.checks.policy import INDIRECT_KINDS

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RegistryFileError(ValueError):
    """The registry file cannot be loaded; the message lists every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _plain(value: str, what: str) -> str:
    if not _PLAIN.match(value):
        raise ValueError(f"{what} {value!r} must be letters, digits, '-', '_' or '.'")
    return value


class PersonEntry(_Strict):
    username: str
    name: str = Field(min_length=1)
    email: EmailStr

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        return _plain(v, "username")


class DatasetEntry(_Strict):
    name: str
    data_owners: list[str] = Field(default_factory=list)
    review: Literal["none", "for_information", "for_approval"] = "none"
    threshold: int | None = Field(default=None, ge=1)
    # Counts released from this dataset must be multiples of this (e.g. 5); see unrounded.
    rounding_base: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _plain(v, "dataset name")

    @model_validator(mode="after")
    def _owners_for_review(self) -> DatasetEntry:
        if self.review != "none" and not self.data_owners:
            raise ValueError(f"review '{self.review}' needs at least one data owner in data_owners")
        return self


class ProjectEntry(_Strict):
    number: str
    title: str = Field(min_length=1)
    kind: Literal["full", "exploratory"]
    start_date: date
    end_date: date
    researchers: list[str] = Field(min_length=1)
    datasets: list[str] = Field(default_factory=list)
    threshold: int | None = Field(default=None, ge=1)
    rounding_base: int | None = Field(default=None, ge=1)
    indirect_identifiers_permitted: list[str] = Field(default_factory=list)
    approved_variables: list[str] = Field(default_factory=list)

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, v: object) -> str:
        text = str(v).strip()
        if not re.fullmatch(r"\d{4,10}", text):
            raise ValueError(f"project number {text!r} must be 4 to 10 digits")
        return text

    @field_validator("indirect_identifiers_permitted")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(INDIRECT_KINDS))
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}; known: {', '.join(INDIRECT_KINDS)}")
        return v

    @model_validator(mode="after")
    def _dates(self) -> ProjectEntry:
        if self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self


class RegistryDocument(_Strict):
    people: list[PersonEntry] = Field(default_factory=list)
    officers: list[str] = Field(default_factory=list)
    operations: list[str] = Field(default_factory=list)
    datasets: list[DatasetEntry] = Field(default_factory=list)
    projects: list[ProjectEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> RegistryDocument:
        problems: list[str] = []
        people = _unique([p.username for p in self.people], "people", problems)
        _unique([d.name for d in self.datasets], "datasets", problems)
        _unique([p.number for p in self.projects], "projects", problems)
        datasets = {d.name for d in self.datasets}
        for i, name in enumerate(self.officers):
            if name not in people:
                problems.append(f"officers[{i}]: {name!r} is not in people")
        for i, name in enumerate(self.operations):
            if name not in people:
                problems.append(f"operations[{i}]: {name!r} is not in people")
        for i, d in enumerate(self.datasets):
            for owner in d.data_owners:
                if owner not in people:
                    problems.append(
                        f"datasets[{i}] ({d.name}).data_owners: {owner!r} is not in people"
                    )
        officers = set(self.officers)
        for i, p in enumerate(self.projects):
            where = f"projects[{i}] ({p.number})"
            for r in p.researchers:
                if r not in people:
                    problems.append(f"{where}.researchers: {r!r} is not in people")
            for d in p.datasets:
                if d not in datasets:
                    problems.append(f"{where}.datasets: {d!r} is not in datasets")
            if len(officers - set(p.researchers)) < 2:
                problems.append(
                    f"{where}.researchers: fewer than two officers are left who are not "
                    "researchers on this project, so two independent officers cannot be assigned"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _unique(keys: list[str], what: str, problems: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            problems.append(f"{what}[{i}]: {key!r} appears more than once")
        seen.add(key)
    return seen


def _entry_name(doc: object, loc: tuple[object, ...]) -> str:
    """Turn pydantic's location ('projects', 2, 'end_date') into 'projects[2] (1234567).end_date'."""
    out = ""
    node = doc
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            key = None
            if isinstance(node, dict):
                key = node.get("number") or node.get("username") or node.get("name")
            if key is not None:
                out += f" ({key})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "file"


class DuplicateKey(yaml.constructor.ConstructorError):  # noqa: N818 - reads as the problem
    """A mapping gives the same key twice; names the key, both lines and the entry."""

    def __init__(self, key: object, first_line: int, line: int, entry: str) -> None:
        self.key, self.first_line, self.line, self.entry = key, first_line, line, entry
        lines = f"line {line}" if line == first_line else f"lines {first_line} and {line}"
        super().__init__(f"{entry}: key {key!r} is given twice ({lines}); keep one")


class RegistryLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys at any level, naming the entry, and
    keeps a date the calendar does not have (``2024-13-45``) as text for the schema to name."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._root = node  # to name the entry a duplicate key is in
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<:` merges are overridden by explicit keys, as YAML says
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: the base class reports it
                    continue
                if first is not None:
                    entry = _entry_of_node(getattr(self, "_root", None), node)
                    raise DuplicateKey(key, first, line, entry)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_lenient_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError:  # month 13, day 45: the schema then names the entry and the field
            return self.construct_scalar(node)


RegistryLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", RegistryLoader.construct_lenient_timestamp
)


def _entry_of_node(root: yaml.Node | None, target: yaml.Node) -> str:
    """Where ``target`` sits under ``root``, as 'projects[1] (4567890)' ('the top level')."""

    def label(node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value in ("number", "username", "name") and isinstance(v, yaml.ScalarNode):
                    return f" ({v.value})"
        return ""

    def walk(node: yaml.Node, path: str, seen: set[int]) -> str | None:
        if node is target:
            return path
        if id(node) in seen:  # aliases can make cycles
            return None
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            children = [(f"{path}.{k.value}" if path else str(k.value), v) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(f"{path}[{i}]{label(v)}", v) for i, v in enumerate(node.value)]
        else:
            return None
        for child_path, child in children:
            found = walk(child, child_path, seen)
            if found is not None:
                return found
        return None

    found = walk(root, "", set()) if root is not None else None
    return found or "the top level of the file"


def parse_registry(text: str, source: str = "registry file") -> RegistryDocument:
    """Validate a registry document; raise RegistryFileError naming every bad entry and field."""
    try:
        raw = yaml.load(text, Loader=RegistryLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKey as exc:
        raise RegistryFileError(f"{source} was not loaded (nothing changed):\n  {exc}") from None
    except yaml.YAMLError as exc:
        raise RegistryFileError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RegistryFileError(
            f"{source} must be a mapping with people, officers, datasets, projects"
        )
    try:
        return RegistryDocument.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = _entry_name(raw, tuple(err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"].startswith("date_"):
                why = msg.rpartition(", ")[2] if ", " in msg else msg
                msg = f"{err['input']!r} is not a date ({why}); write it as YYYY-MM-DD"
            lines.append(f"  {where}: {msg}")
        raise RegistryFileError(
            f"{source} was not loaded (nothing changed):\n" + "\n".join(lines)
        ) from None


def read_registry_file(path: Path) -> RegistryDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryFileError(f"cannot read registry file {path}: {exc}") from None
    return parse_registry(text, source=str(path))
