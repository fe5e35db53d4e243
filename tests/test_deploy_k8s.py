"""The Kubernetes profile (deploy/k8s/dagster.yaml + pipelines.k8s), checked without a cluster: the instance
file against Dagster's schemas, the launcher and executor as dagster-k8s builds them (kube config loading
stubbed), and the pod a step would get."""

from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import dagster_k8s.launcher
import kubernetes.config
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.executor.init import InitExecutorContext
from dagster._core.instance.ref import InstanceRef
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.job import construct_dagster_k8s_job
from dagster_postgres import DagsterPostgresStorage

from pipelines import definitions, k8s
from tests.helpers import ROOT

K8S_DIR = ROOT / "deploy" / "k8s"
ENV = {
    "PAPERLAKE_IMAGE": "registry.example/paperlake:test",
    "DAGSTER_PG_URL": "postgresql+psycopg2://dagster:secret@db:5432/dagster",
    "PAPERLAKE_CATALOG": "postgres:dbname=paperlake host=db",
    "PAPERLAKE_DATA_PATH": "s3://bucket/lake/",
}


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def instance_ref(tmp_path, monkeypatch) -> InstanceRef:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    # validates the whole file against Dagster's instance schema, as `dagster-daemon` does on start
    return InstanceRef.from_dir(str(tmp_path), config_dir=str(K8S_DIR))


@pytest.fixture
def launcher(instance_ref, monkeypatch) -> K8sRunLauncher:
    """The run launcher as the daemon builds it; only the kube config loading (no cluster here) is stubbed."""
    loads = []
    monkeypatch.setattr(dagster_k8s.launcher, "load_kubernetes_config", lambda **kw: loads.append(kw))
    built = instance_ref.run_launcher_data.rehydrate(K8sRunLauncher)
    assert loads == [
        {"load_incluster_config": True, "kubeconfig_file": None, "k8s_api_ssl_ca_cert_file": None}
    ]
    return built


def test_instance_storage_queue_and_pools_mirror_the_other_profiles(instance_ref):
    k8s_cfg = _yaml(K8S_DIR / "dagster.yaml")
    # same PostgreSQL storage (env var, psycopg2 URL) as the PostgreSQL profile, same pools as local runs
    assert k8s_cfg["storage"] == _yaml(ROOT / "deploy" / "postgres.dagster.yaml")["storage"]
    assert k8s_cfg["concurrency"] == _yaml(ROOT / "pipelines" / "dagster.yaml")["concurrency"]
    assert instance_ref.settings["telemetry"] == {"enabled": False}

    storage = instance_ref.storage_data
    assert (storage.module_name, storage.class_name) == ("dagster_postgres", "DagsterPostgresStorage")
    # not rehydrated (that would connect): its config is checked against the class's schema instead
    checked = process_config(
        resolve_to_config_type(DagsterPostgresStorage.config_type()), storage.config_dict
    )
    assert checked.success, checked.errors
    assert checked.value["postgres_url"] == ENV["DAGSTER_PG_URL"]

    assert isinstance(instance_ref.run_coordinator_data.rehydrate(), QueuedRunCoordinator)


def test_run_launcher_pods_get_image_env_and_shared_volume(launcher):
    assert launcher.job_image == ENV["PAPERLAKE_IMAGE"]
    assert launcher.job_namespace == "paperlake"
    assert launcher.service_account_name
    assert launcher.env_secrets == ["paperlake-dagster-pg"]  # DAGSTER_PG_URL for the pods' instance
    env = dict(var.partition("=")[::2] for var in launcher.env_vars)
    assert env.keys() == {
        "PAPERLAKE_RAW_DIR",
        "PAPERLAKE_OUT_DIR",
        "PAPERLAKE_CATALOG",
        "PAPERLAKE_DATA_PATH",
    }
    claims = {v["name"] for v in launcher.volumes if v["persistent_volume_claim"]["claim_name"]}
    mounts = [m["mount_path"] for m in launcher.volume_mounts if m["name"] in claims]
    for var in ("PAPERLAKE_RAW_DIR", "PAPERLAKE_OUT_DIR"):  # the folders are on the shared claim
        assert any(Path(env[var]).is_relative_to(m) for m in mounts), (var, mounts)


def test_launcher_needs_the_image_env_var(instance_ref, monkeypatch):
    monkeypatch.setattr(dagster_k8s.launcher, "load_kubernetes_config", lambda **kw: None)
    monkeypatch.delenv("PAPERLAKE_IMAGE")
    with pytest.raises(DagsterInvalidConfigError, match="PAPERLAKE_IMAGE"):
        instance_ref.run_launcher_data.rehydrate(K8sRunLauncher)


def test_k8s_definitions_are_the_local_ones():
    local, cluster = definitions.defs, k8s.defs
    assert set(cluster.resolve_all_asset_keys()) == set(local.resolve_all_asset_keys())
    assert cluster.resolve_asset_graph().asset_check_keys == local.resolve_asset_graph().asset_check_keys
    assert {s.name for s in cluster.sensors} == {s.name for s in local.sensors}
    assert {s.name for s in cluster.schedules} == {s.name for s in local.schedules}
    names = {j.name for j in local.resolve_all_job_defs()}
    assert {j.name for j in cluster.resolve_all_job_defs()} == names
    assert {"ingest_job", "warehouse_job"} <= names


def test_every_job_runs_its_steps_on_the_k8s_executor():
    ops = set()
    for job in k8s.defs.resolve_all_job_defs():  # ingest_job, warehouse_job and the implicit asset job
        assert job.executor_def.executor_creation_fn is k8s_job_executor.executor_creation_fn, job.name
        # the configured values validate against k8s_job_executor's schema, defaults filled in
        config = dg.validate_run_config(job, {})["execution"][job.executor_def.name]
        assert config["max_concurrent"] == 8
        assert config["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
        ops |= {node.name for node in job.graph.node_defs}
    assert set(k8s.K8S_EXECUTOR_CONFIG["per_step_k8s_config"]) <= ops  # overrides name real steps


def _step_pod(launcher: K8sRunLauncher, job_name: str, step: str, monkeypatch):
    """The pod spec of one step, built the way K8sStepHandler.launch_step builds it (minus the API call)."""
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda: None)
    job = k8s.defs.resolve_job_def(job_name)
    config = dg.validate_run_config(job, {})["execution"][job.executor_def.name]
    init = InitExecutorContext(InMemoryJob(job), job.executor_def, config, dg.DagsterInstance.ephemeral())
    handler = job.executor_def.executor_creation_fn(init)._step_handler
    context = SimpleNamespace(
        dagster_run=SimpleNamespace(job_code_origin=None),
        instance=SimpleNamespace(run_launcher=launcher),
        step_tags={step: {}},
        get_step_context=lambda key: SimpleNamespace(step=SimpleNamespace(op_name=key)),
        execute_step_args=SimpleNamespace(step_keys_to_execute=[step]),
    )
    container_context = handler._get_container_context(context)
    k8s_job = construct_dagster_k8s_job(
        job_config=container_context.get_k8s_job_config(None, launcher),
        args=["dagster", "api", "execute_step"],
        job_name="step",
        pod_name="step",
        component="step_worker",
        user_defined_k8s_config=container_context.run_k8s_config,
        labels={},
        env_vars=[],
    )
    return container_context.namespace, k8s_job.spec.template.spec


def test_step_pods_inherit_the_launcher_settings_with_step_limits(launcher, monkeypatch):
    namespace, pod = _step_pod(launcher, "warehouse_job", "out_pages", monkeypatch)
    (container,) = pod.containers
    assert namespace == "paperlake"
    assert pod.service_account_name == launcher.service_account_name
    assert container.image == ENV["PAPERLAKE_IMAGE"]
    env = {e.name: e.value for e in container.env}
    assert env["PAPERLAKE_RAW_DIR"] == "/data/raw" and env["PAPERLAKE_OUT_DIR"] == "/data/out"
    assert env["PAPERLAKE_CATALOG"] == ENV["PAPERLAKE_CATALOG"]
    assert env["PAPERLAKE_DATA_PATH"] == ENV["PAPERLAKE_DATA_PATH"]
    assert env["PAPERLAKE_WORKERS"] == "2"  # worker processes sized to the CPU limit
    assert [s.secret_ref.name for s in container.env_from] == ["paperlake-dagster-pg"]
    assert [(m.name, m.mount_path) for m in container.volume_mounts] == [("paperlake-data", "/data")]
    assert [v.persistent_volume_claim.claim_name for v in pod.volumes] == ["paperlake-data"]
    # the executor's step limits replace the run pod's smaller ones
    assert container.resources.limits == {"cpu": "2", "memory": "4Gi"}

    _, pod = _step_pod(launcher, "warehouse_job", "core_papers", monkeypatch)
    assert pod.containers[0].resources.limits == {"cpu": "2", "memory": "8Gi"}
