"""The two locks: runtime (requirements.txt) and tests/tools (requirements-dev.txt), checked
against each other, against what Airflow itself declares, and against Airflow's constraints file
for the pinned version (deploy/airflow-constraints/)."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS_DIR = REPO / "deploy" / "airflow-constraints"
CONSTRAINTS = CONSTRAINTS_DIR / "constraints-3.3.2-python3.11.txt"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>\S+)")
DEV_TOOLS = {"pytest", "pytest-timeout", "moto", "ruff", "playwright"}


def pins(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line of a lock or constraints file."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonicalize_name(match["name"])] = match["version"]
    return found


def exceptions() -> dict[str, str]:
    listed = {}
    for line in (CONSTRAINTS_DIR / "exceptions.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            spec, _, reason = line.strip().partition(" ")
            name, _, version = spec.partition("==")
            assert version and reason.strip(), (
                f"exceptions.txt: {line!r} needs name==version reason"
            )
            listed[canonicalize_name(name)] = version
    return listed


def test_pins_parses_locks_and_constraints(tmp_path):
    sample = tmp_path / "c.txt"
    sample.write_text("# c\nFlask-Login==0.6.3\ncelery[redis]==5.6.3\n    # via x\nfoo>=1\n")
    assert pins(sample) == {"flask-login": "0.6.3", "celery": "5.6.3"}


def test_runtime_and_dev_locks_are_split_and_agree():
    runtime, dev = pins(REPO / "requirements.txt"), pins(REPO / "requirements-dev.txt")
    assert runtime["apache-airflow"] == "3.3.2"
    assert not DEV_TOOLS & runtime.keys(), "test tools in the runtime lock"
    assert dev.keys() >= DEV_TOOLS, "a test tool missing from requirements-dev.txt"
    # requirements-dev.in is compiled with `-c requirements.txt`: shared packages, same pins.
    differ = {n: (runtime[n], dev[n]) for n in runtime.keys() & dev.keys() if runtime[n] != dev[n]}
    assert not differ, f"the dev lock moved runtime pins: {differ}"
    assert "-c requirements.txt" in (REPO / "requirements-dev.in").read_text().splitlines()


def test_runtime_lock_satisfies_what_airflow_declares():
    """Every requirement apache-airflow and its installed parts (core, task SDK, providers)
    declare for this Python, on a package the lock pins, is met by the pin."""
    runtime = pins(REPO / "requirements.txt")
    env = {**default_environment(), "python_version": "3.11", "extra": ""}
    airflow_parts = [n for n in runtime if n.startswith("apache-airflow")]
    checked, unmet = 0, []
    for part in airflow_parts:
        try:
            dist = distribution(part)
        except PackageNotFoundError:
            pytest.fail(f"{part} is in the lock but not installed: run scripts/bootstrap.sh")
        assert dist.version == runtime[part], f"installed {part} {dist.version} is not the lock's"
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            if name in runtime:
                checked += 1
                if not req.specifier.contains(runtime[name], prereleases=True):
                    unmet.append(f"{part} wants {req}, lock has {runtime[name]}")
    assert checked > 50  # the check really looked at Airflow's requirements
    assert not unmet, "\n".join(unmet)


def test_runtime_lock_agrees_with_airflows_constraints():
    if not CONSTRAINTS.exists():
        pytest.skip(
            f"{CONSTRAINTS.relative_to(REPO)} is not vendored yet (`make constraints` downloads "
            "it; see deploy/airflow-constraints/README.md)"
        )
    header = CONSTRAINTS.read_text()[:2000]
    assert "constraints" in header.lower()
    constraints, runtime, allowed = pins(CONSTRAINTS), pins(REPO / "requirements.txt"), exceptions()
    assert len(constraints) > 300, "not Airflow's full constraints file"
    differ = {
        name: (runtime[name], constraints[name])
        for name in runtime.keys() & constraints.keys()
        if runtime[name] != constraints[name] and allowed.get(name) != runtime[name]
    }
    assert not differ, (
        "pinned differently from Airflow's constraints (ours, theirs); align the lock or add a "
        f"justified line to deploy/airflow-constraints/exceptions.txt: {differ}"
    )
    stale = {n for n in allowed if runtime.get(n) != allowed[n]}
    assert not stale, f"exceptions.txt lists versions the lock no longer pins: {sorted(stale)}"
