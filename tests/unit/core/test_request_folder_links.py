"""A request folder that is a link (started from Airflow's trigger form, which skips `srs
submit`'s refusals) is refused at intake as `link_or_escape`, never an error of the task."""

from __future__ import annotations

import os
from pathlib import Path

from include.demo import DEMO_FOLDER, DEMO_PROJECT, write_demo_request
from include.request_forms import folder_and_form

READY = "Ready for Checking"


def ready_root(p) -> Path:
    return Path(p.settings.storage_root) / "projects" / DEMO_PROJECT / READY


def test_a_symlinked_request_folder_is_a_refusal(demo_pipeline, tmp_path):
    p = demo_pipeline
    write_demo_request(p.storage)
    outside = tmp_path / "elsewhere"
    os.rename(ready_root(p) / DEMO_FOLDER, outside)  # the real folder now lies outside
    os.symlink(outside, ready_root(p) / DEMO_FOLDER, target_is_directory=True)
    [refusal] = folder_and_form(p, DEMO_PROJECT, DEMO_FOLDER)
    assert refusal.rule == "link_or_escape"
    assert DEMO_FOLDER in refusal.message and "link" in refusal.message


def test_the_same_folder_unlinked_is_accepted(demo_pipeline):
    write_demo_request(demo_pipeline.storage)
    assert folder_and_form(demo_pipeline, DEMO_PROJECT, DEMO_FOLDER) == []
