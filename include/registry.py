"""The projects registry: people, officers, datasets and projects, kept in the ticket database.

``load`` takes a validated registry file and updates the tables in place in one transaction
(re-loading changes what changed, e.g. a project's end date). Readers get plain frozen
dataclasses, never live ORM rows, so nothing outside this module writes the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from include.checks.policy import DEFAULT_ROUNDING_BASE, DEFAULT_THRESHOLD
from include.db import Base
from include.registry_file import RegistryDocument


class PersonRow(Base):
    __tablename__ = "people"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    # Roles held across the service; a project's researchers are in project_researchers.
    is_officer: Mapped[bool] = mapped_column(default=False)
    is_operations: Mapped[bool] = mapped_column(default=False)


class DatasetRow(Base):
    __tablename__ = "datasets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    review: Mapped[str] = mapped_column(String(20))
    threshold: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rounding_base: Mapped[int | None] = mapped_column(Integer, nullable=True)


class DatasetOwnerRow(Base):
    __tablename__ = "dataset_owners"
    dataset: Mapped[str] = mapped_column(ForeignKey("datasets.name"), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("people.username"), primary_key=True)


class ProjectRow(Base):
    __tablename__ = "projects"
    number: Mapped[str] = mapped_column(String(10), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    threshold: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rounding_base: Mapped[int | None] = mapped_column(Integer, nullable=True)
    indirect_permitted: Mapped[list[str]] = mapped_column(JSON, default=list)
    approved_variables: Mapped[list[str]] = mapped_column(JSON, default=list)


class ProjectResearcherRow(Base):
    __tablename__ = "project_researchers"
    project: Mapped[str] = mapped_column(ForeignKey("projects.number"), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("people.username"), primary_key=True)


class ProjectDatasetRow(Base):
    __tablename__ = "project_datasets"
    project: Mapped[str] = mapped_column(ForeignKey("projects.number"), primary_key=True)
    dataset: Mapped[str] = mapped_column(ForeignKey("datasets.name"), primary_key=True)


@dataclass(frozen=True)
class Person:
    username: str
    name: str
    email: str
    is_officer: bool = False
    is_operations: bool = False


@dataclass(frozen=True)
class Dataset:
    name: str
    review: str  # none | for_information | for_approval
    threshold: int | None
    data_owners: tuple[Person, ...]
    rounding_base: int | None = None  # counts must be multiples of this (None: not set)


@dataclass(frozen=True)
class Project:
    number: str
    title: str
    kind: str  # full | exploratory
    start_date: date
    end_date: date
    threshold: int | None
    indirect_permitted: tuple[str, ...]
    approved_variables: tuple[str, ...]
    researchers: tuple[Person, ...]
    datasets: tuple[Dataset, ...]
    rounding_base: int | None = None

    def is_live(self, on: date) -> bool:
        """Started and not yet ended (the end date is the last live day)."""
        return self.start_date <= on <= self.end_date

    def has_ended(self, on: date) -> bool:
        return on > self.end_date

    def is_researcher(self, username: str) -> bool:
        return any(p.username == username for p in self.researchers)

    @property
    def effective_threshold(self) -> int:
        """The project's minimum (default 10), tightened by any dataset that asks for more."""
        base = self.threshold if self.threshold is not None else DEFAULT_THRESHOLD
        return max([base, *(d.threshold for d in self.datasets if d.threshold is not None)])

    @property
    def rounding_set(self) -> bool:
        """Whether the project or one of its datasets sets a rounding base (then unrounded
        counts block; otherwise the default base is only for review)."""
        return self.rounding_base is not None or any(
            d.rounding_base is not None for d in self.datasets
        )

    @property
    def effective_rounding_base(self) -> int:
        """The project's rounding base (default 5, ACRO's), or the coarsest a dataset sets."""
        bases = [b for b in (self.rounding_base, *(d.rounding_base for d in self.datasets)) if b]
        return max(bases) if bases else DEFAULT_ROUNDING_BASE


class UnknownProject(LookupError):
    def __init__(self, number: str) -> None:
        super().__init__(
            f"project {number!r} is not in the registry (load it with `srs registry load`)"
        )
        self.number = number


@dataclass(frozen=True)
class LoadResult:
    people: int
    datasets: int
    projects: int
    added_projects: tuple[str, ...]
    updated_projects: tuple[str, ...]
    kept_projects: tuple[
        str, ...
    ]  # in the database but not in this file: kept, as tickets refer to them


def load(session: Session, doc: RegistryDocument) -> LoadResult:
    """Apply a validated registry document in place (within the caller's transaction)."""
    officers, operations = set(doc.officers), set(doc.operations)
    for p in doc.people:
        session.merge(
            PersonRow(
                username=p.username,
                name=p.name,
                email=str(p.email),
                is_officer=p.username in officers,
                is_operations=p.username in operations,
            )
        )
    # Officer and operations roles are the file's: whoever is not listed any more loses them.
    listed = {p.username for p in doc.people}
    for row in session.scalars(select(PersonRow).where(PersonRow.username.not_in(listed))):
        row.is_officer = row.is_operations = False
    session.flush()
    for d in doc.datasets:
        session.merge(
            DatasetRow(
                name=d.name, review=d.review, threshold=d.threshold, rounding_base=d.rounding_base
            )
        )
        session.flush()
        session.execute(delete(DatasetOwnerRow).where(DatasetOwnerRow.dataset == d.name))
        session.add_all(
            DatasetOwnerRow(dataset=d.name, username=u) for u in dict.fromkeys(d.data_owners)
        )
    existing = set(session.scalars(select(ProjectRow.number)))
    for p in doc.projects:
        session.merge(
            ProjectRow(
                number=p.number,
                title=p.title,
                kind=p.kind,
                start_date=p.start_date,
                end_date=p.end_date,
                threshold=p.threshold,
                rounding_base=p.rounding_base,
                indirect_permitted=list(p.indirect_identifiers_permitted),
                approved_variables=list(p.approved_variables),
            )
        )
        session.flush()
        session.execute(
            delete(ProjectResearcherRow).where(ProjectResearcherRow.project == p.number)
        )
        session.execute(delete(ProjectDatasetRow).where(ProjectDatasetRow.project == p.number))
        session.add_all(
            ProjectResearcherRow(project=p.number, username=u) for u in dict.fromkeys(p.researchers)
        )
        session.add_all(
            ProjectDatasetRow(project=p.number, dataset=d) for d in dict.fromkeys(p.datasets)
        )
    session.flush()
    in_file = [p.number for p in doc.projects]
    return LoadResult(
        people=len(doc.people),
        datasets=len(doc.datasets),
        projects=len(doc.projects),
        added_projects=tuple(n for n in in_file if n not in existing),
        updated_projects=tuple(n for n in in_file if n in existing),
        kept_projects=tuple(sorted(existing - set(in_file))),
    )


def _person(row: PersonRow) -> Person:
    return Person(row.username, row.name, row.email, row.is_officer, row.is_operations)


def get_person(session: Session, username: str) -> Person | None:
    row = session.get(PersonRow, username)
    return _person(row) if row else None


def officers(session: Session) -> list[Person]:
    rows = session.scalars(
        select(PersonRow).where(PersonRow.is_officer).order_by(PersonRow.username)
    )
    return [_person(r) for r in rows]


def operations_staff(session: Session) -> list[Person]:
    rows = session.scalars(
        select(PersonRow).where(PersonRow.is_operations).order_by(PersonRow.username)
    )
    return [_person(r) for r in rows]


def _dataset(session: Session, row: DatasetRow) -> Dataset:
    owners = session.scalars(
        select(PersonRow)
        .join(DatasetOwnerRow, DatasetOwnerRow.username == PersonRow.username)
        .where(DatasetOwnerRow.dataset == row.name)
        .order_by(PersonRow.username)
    )
    return Dataset(
        row.name, row.review, row.threshold, tuple(_person(p) for p in owners), row.rounding_base
    )


def get_project(session: Session, number: str) -> Project:
    """The project with its researchers and datasets; UnknownProject if it is not registered."""
    row = session.get(ProjectRow, str(number))
    if row is None:
        raise UnknownProject(str(number))
    researchers = session.scalars(
        select(PersonRow)
        .join(ProjectResearcherRow, ProjectResearcherRow.username == PersonRow.username)
        .where(ProjectResearcherRow.project == row.number)
        .order_by(PersonRow.username)
    )
    datasets = session.scalars(
        select(DatasetRow)
        .join(ProjectDatasetRow, ProjectDatasetRow.dataset == DatasetRow.name)
        .where(ProjectDatasetRow.project == row.number)
        .order_by(DatasetRow.name)
    )
    return Project(
        number=row.number,
        title=row.title,
        kind=row.kind,
        start_date=row.start_date,
        end_date=row.end_date,
        threshold=row.threshold,
        indirect_permitted=tuple(row.indirect_permitted or ()),
        approved_variables=tuple(row.approved_variables or ()),
        researchers=tuple(_person(p) for p in researchers),
        datasets=tuple(_dataset(session, d) for d in datasets),
        rounding_base=row.rounding_base,
    )


def list_projects(session: Session) -> list[Project]:
    numbers = session.scalars(select(ProjectRow.number).order_by(ProjectRow.number))
    return [get_project(session, n) for n in numbers]


def projects_ended_before(session: Session, on: date) -> list[str]:
    """Numbers of projects whose end date has passed on ``on`` (for the closure sweep)."""
    return list(
        session.scalars(
            select(ProjectRow.number).where(ProjectRow.end_date < on).order_by(ProjectRow.number)
        )
    )


def datasets_owned_by(session: Session, username: str) -> frozenset[str]:
    """Names of the datasets ``username`` is a data owner of (for need-to-know)."""
    return frozenset(
        session.scalars(select(DatasetOwnerRow.dataset).where(DatasetOwnerRow.username == username))
    )


def datasets_by_project(session: Session) -> dict[str, frozenset[str]]:
    """Every registered project's dataset names, in one query (for filtering the queue)."""
    found: dict[str, set[str]] = {}
    for project, dataset in session.execute(
        select(ProjectDatasetRow.project, ProjectDatasetRow.dataset)
    ):
        found.setdefault(project, set()).add(dataset)
    return {number: frozenset(names) for number, names in found.items()}
