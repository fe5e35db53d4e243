"""The Kubernetes code location: the Definitions of pipelines.definitions, with every step in its own pod.

Load it with `dagster ... -m pipelines.k8s` (or a workspace entry) on an instance configured by
deploy/k8s/dagster.yaml. The executor is set once on the Definitions rather than on each job: that is
the default executor of every job without its own, so ingest_job, warehouse_job, the sensor's and the
schedule's runs, automation runs and ad-hoc materialisations from the UI all run on pods alike.
"""

from dagster_k8s import k8s_job_executor

from assets.resources import resource_from_env
from pipelines.definitions import build_defs

# One step = one Kubernetes Job. Image, namespace, service account, the PAPERLAKE_* variables, the
# DAGSTER_PG_URL secret and the data volume come from the K8sRunLauncher in deploy/k8s/dagster.yaml:
# step pods inherit the launcher's settings, so they are not repeated here.
STEP_CPU = 2
K8S_EXECUTOR_CONFIG = {
    # per run; the writer pool (deploy/k8s/dagster.yaml) already keeps to one writing run at a time
    "max_concurrent": 8,
    "resources": {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": str(STEP_CPU), "memory": "4Gi"},
    },
    # in a container os.sched_getaffinity sees the node's cores, not the CPU limit: size the worker
    # processes of a partition range (paperlake.parallel) to the limit instead
    "env_vars": [f"PAPERLAKE_WORKERS={STEP_CPU}"],
    # entity resolution holds every file's sightings in memory at once
    "per_step_k8s_config": {
        "core_papers": {"container_config": {"resources": {"limits": {"memory": "8Gi"}}}},
    },
}

k8s_executor = k8s_job_executor.configured(K8S_EXECUTOR_CONFIG, name="paperlake_k8s")

defs = build_defs(resource_from_env(), executor=k8s_executor)
