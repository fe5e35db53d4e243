"""The Definitions load, validate through the CLI, and carry the metadata the UI shows."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from schemas import CONTRACT
from tests.helpers import ASSETS, ROOT


def test_definitions_load_with_groups_kinds_and_schemas():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == ASSETS
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in {"ingest", "core", "warehouse", "reports"}
        assert node.kinds, key
        assert node.description, key
    for table, model in CONTRACT.items():
        schema = graph.get(dg.AssetKey(f"out_{table}")).metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == list(model.to_schema().columns)
        assert all(c.description for c in schema.columns)
    assert graph.get(dg.AssetKey("core_sightings")).partitions_def.name == "landing_days"
    assert graph.get(dg.AssetKey("raw_captures")).is_observable
    assert graph.get(dg.AssetKey("core_papers")).partitions_def is None


def test_checks_sensors_schedule_jobs():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    contract = {(f"out_{t}", f"{t}_contract") for t in CONTRACT}
    audit = {
        ("out_rejects", "reject_rate"),
        ("out_pages", "entries_conserved"),
        ("out_sightings", "sightings_reference_papers"),
    }
    assert checks == contract | audit  # a dropped or a moved check fails, as does an unexpected one
    assert {s.name for s in defs.sensors} == {"landing_sensor", "warehouse_automation"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in defs.sensors)
    assert [s.name for s in defs.schedules] == ["daily_warehouse", "daily_digest", "weekly_lake_maintenance"]
    warehouse = ASSETS - {"raw_captures", "core_sightings"}
    selected = {
        name: {k.to_user_string() for k in defs.resolve_job_def(name).asset_layer.selected_asset_keys}
        for name in (
            "ingest_job",
            "update_job",
            "warehouse_job",
            "digest_job",
            "outputs_job",
            "lake_maintenance_job",
        )
    }
    assert selected == {
        "ingest_job": {"core_sightings"},
        "update_job": {"core_sightings", *warehouse},
        "warehouse_job": warehouse,
        "digest_job": {"out_digest"},
        "outputs_job": {"out_report", "out_digest"},
        "lake_maintenance_job": set(),
    }
    assert {j.name for j in defs.resolve_all_job_defs()} == {*selected, "__ASSET_JOB"}


@pytest.mark.subprocess
def test_dagster_definitions_validate_cli(tmp_path):
    dagster = Path(sys.executable).with_name("dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr
