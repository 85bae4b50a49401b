"""The files in deploy/ are what operators copy: they must stay true to the code."""

from __future__ import annotations

import argparse
import configparser
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from control_plane.certs import make_certs
from control_plane.cli import build_parser
from data_plane.capabilities import check_capabilities
from data_plane.config.syntax import parse_host_port
from data_plane.config.validate import check_snapshot
from data_plane.settings import Limits
from data_plane.standalone import load_config_file
from tests.conftest import service_missing

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD = DEPLOY / "systemd"


def env_file(name: str) -> dict[str, str]:
    values = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def unit_commands(name: str) -> list[list[str]]:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(SYSTEMD / name)
    service = unit["Service"]
    return [
        shlex.split(service[key])[1:]  # drop the path of the fleetgate script
        for key in ("ExecStartPre", "ExecStart")
        if key in service
    ]


def test_the_example_gateway_file_is_a_valid_config_a_node_can_serve() -> None:
    snapshot = load_config_file(str(DEPLOY / "gateway.example.yaml"))
    assert check_snapshot(snapshot) == []
    check_capabilities(snapshot)  # a standalone node serves it as it is
    assert [route.name for route in snapshot.routes] == ["admin", "sessions", "users-api"]


@pytest.mark.parametrize(
    ("unit", "env", "command"),
    [
        ("fleetgate-control-plane.service", "control-plane.env.example", "control-plane"),
        ("fleetgate-data-plane.service", "data-plane.env.example", "data-plane"),
    ],
)
def test_every_setting_of_an_env_file_is_a_flag_of_its_command(
    unit: str, env: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = env_file(env)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    parser = build_parser()
    commands = unit_commands(unit)
    assert commands[-1][0] == command
    for argv in commands:
        parser.parse_args(argv)  # exits on an unknown flag
    parsed = vars(parser.parse_args([command]))
    for key, value in values.items():
        name = key.removeprefix("FLEETGATE_").lower()
        assert name in parsed, f"{env}: {key} is not a flag of `fleetgate {command}`"
        got = parsed[name]
        if isinstance(got, list):
            assert got == value.split(","), key
        else:
            assert str(got) == value or float(got) == float(value), key


# ---------------------------------------------------------------- compose.yaml

COMPOSE = DEPLOY / "compose.yaml"
SECRETS_DIR = "/run/secrets/"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def fleetgate_services() -> dict[str, dict[str, Any]]:
    """The services that run the fleetgate image, by name."""
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def services_running(command: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in fleetgate_services().items() if s["command"][0] == command}


def parse_service(
    service: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> argparse.Namespace:
    """The service's command as `fleetgate` parses it inside its container.

    Each secret it reads is a file standing in for /run/secrets/NAME, holding a valid value.
    """
    for key, value in service.get("environment", {}).items():
        if key.endswith("_FILE"):
            assert value.startswith(SECRETS_DIR), key
            name = value.removeprefix(SECRETS_DIR)
            assert name in service.get("secrets", []), f"{key}: secret {name} not given"
            stand_in = tmp_path / name
            stand_in.write_text(
                SECRET_STAND_INS.get(name, "k7Qm2vX9pL4sN8wR3tY6uZ1aB5cD0eF_") + "\n"
            )
            value = str(stand_in)
        monkeypatch.setenv(key, str(value))
    return build_parser().parse_args(service["command"])


SECRET_STAND_INS = {"db-url": "postgresql+psycopg://fleetgate:pw@postgres:5432/fleetgate"}


def test_compose_runs_the_migration_once_before_the_control_planes() -> None:
    services = compose()["services"]
    (migrate,) = services_running("db").values()
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    replicas = services_running("control-plane")
    assert len(replicas) == 2
    for name, replica in replicas.items():
        assert "--no-migrate" in replica["command"], name
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name


def test_compose_nodes_start_once_both_replicas_are_healthy_and_are_blue_and_green() -> None:
    nodes = services_running("data-plane")
    replicas = set(services_running("control-plane"))
    labels = set()
    for name, node in nodes.items():
        waits = {s for s, c in node["depends_on"].items() if c["condition"] == "service_healthy"}
        assert replicas <= waits, name
        environment = node["environment"]
        assert environment["FLEETGATE_NODE_ID"] == name
        labels.add(environment["FLEETGATE_LABEL"])
        # any replica will do: every one is listed, on the port it syncs on
        assert environment["FLEETGATE_CONTROL_PLANE"].split(",") == [
            f"{replica}:50051" for replica in sorted(replicas)
        ]
    assert labels == {"group=blue", "group=green"}


def test_compose_nodes_share_the_redis_of_the_topology() -> None:
    services = compose()["services"]
    redis_port = 6379  # redis-server's default; the service sets no other
    assert "--port" not in services["redis"]["command"]
    for name, node in services_running("data-plane").items():
        assert node["environment"]["FLEETGATE_REDIS_URL"] == f"redis://redis:{redis_port}/0", name
        assert node["depends_on"]["redis"]["condition"] == "service_healthy", name


@pytest.mark.parametrize("name", sorted(fleetgate_services()))
def test_every_compose_setting_is_a_flag_of_the_service_command(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    service = fleetgate_services()[name]
    parsed = vars(parse_service(service, monkeypatch, tmp_path))
    for key, value in service.get("environment", {}).items():
        flag = key.removeprefix("FLEETGATE_").removesuffix("_FILE").lower()
        assert flag in parsed, f"{name}: {key} is not a flag of `fleetgate {service['command'][0]}`"
        if not key.endswith("_FILE"):
            got = parsed[flag]
            assert (got == value.split(",")) if isinstance(got, list) else str(got) == value, key


@pytest.mark.parametrize("name", sorted(fleetgate_services()))
def test_compose_publishes_the_ports_its_services_listen_on(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    service = fleetgate_services()[name]
    args = parse_service(service, monkeypatch, tmp_path)
    listening = {
        "control-plane": ["admin_listen"],
        "data-plane": ["listen", "status_listen"],
        "db": [],
    }[args.command]
    published = [int(port.rsplit(":", 1)[1]) for port in service.get("ports", [])]
    assert published == [parse_host_port(getattr(args, flag))[1] for flag in listening]
    for flag in listening:
        host, _ = parse_host_port(getattr(args, flag))
        assert host == "0.0.0.0", f"{name}: {flag} must listen beyond the container"
    for port in service.get("ports", []):
        assert port.startswith("127.0.0.1:"), f"{name}: {port} is published beyond this host"


def test_compose_secrets_are_the_files_fleetgate_certs_writes(tmp_path: Path) -> None:
    document = compose()
    (certs_line,) = [
        line.split("fleetgate ", 1)[1]
        for line in COMPOSE.read_text().splitlines()
        if line.startswith("#") and "fleetgate certs" in line
    ]
    args = build_parser().parse_args(shlex.split(certs_line))
    # what the nodes dial and who they are must be in the certificates
    assert sorted(args.server_name) == sorted(services_running("control-plane"))
    assert sorted(args.node) == sorted(services_running("data-plane"))
    written = {path.name for path in make_certs(tmp_path / "certs", args.server_name, args.node)}
    for name, secret in document["secrets"].items():
        path = secret["file"]
        assert path.startswith("./secrets/"), name
        if path.startswith("./secrets/certs/"):
            assert path.removeprefix("./secrets/certs/") in written, name
    assert "ca-key.pem" not in {Path(s["file"]).name for s in document["secrets"].values()}
    used = {secret for s in document["services"].values() for secret in s.get("secrets", [])}
    assert used == set(document["secrets"])


def test_compose_nodes_are_given_the_certificate_of_their_own_id() -> None:
    secrets = compose()["secrets"]
    for name, node in services_running("data-plane").items():
        environment = node["environment"]
        cert = secrets[environment["FLEETGATE_TLS_CERT"].removeprefix(SECRETS_DIR)]["file"]
        key = secrets[environment["FLEETGATE_TLS_KEY"].removeprefix(SECRETS_DIR)]["file"]
        assert Path(cert).name == f"node-{name}.pem"
        assert Path(key).name == f"node-{name}-key.pem"


def test_compose_gives_a_node_time_to_drain_before_it_is_killed() -> None:
    drain = Limits().drain_timeout
    for name, node in services_running("data-plane").items():
        grace = node["stop_grace_period"]
        assert grace.endswith("s")
        assert float(grace.removesuffix("s")) >= drain + 5, name


def test_the_compose_gateway_file_routes_to_the_demo_upstream() -> None:
    snapshot = load_config_file(str(DEPLOY / "compose-gateway.yaml"))
    assert check_snapshot(snapshot) == []
    check_capabilities(snapshot)
    services = compose()["services"]
    for service in snapshot.services:
        for target in service.targets:
            host, port = parse_host_port(target.address)
            assert host in services, target.address
            assert services[host]["command"] == ["--port", str(port)]


# ---------------------------------------------------------------- deploy/kubernetes

KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATIONS = ["base", "overlays/example"]
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported upstream when written
CONTROL_PLANE_SERVICE = "fleetgate-control-plane"


def kustomize_build(directory: str) -> list[dict[str, Any]]:
    """The resources `kubectl kustomize` renders for `directory` (base or overlay)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        service_missing("kubectl (kustomize)", FileNotFoundError("kubectl"))
    assert kubectl is not None
    done = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def resource(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def pod_spec(resources: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = resource(resources, kind, name)["spec"]["template"]["spec"]
    return spec


def container_args(
    container: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> argparse.Namespace:
    """The container's command as `fleetgate` parses it, secrets standing in as valid values."""
    for variable in container.get("env", []):
        value = variable.get("value")
        if value is None:
            key = variable["valueFrom"]["secretKeyRef"]["key"]
            value = SECRET_STAND_INS.get("db-url" if key == "url" else key, STAND_IN_TOKEN)
        monkeypatch.setenv(variable["name"], value)
    return build_parser().parse_args(container["args"])


STAND_IN_TOKEN = "k7Qm2vX9pL4sN8wR3tY6uZ1aB5cD0eF_"
LIMIT_VARIABLES = set(Limits().as_environment())


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_every_kubernetes_resource_is_valid_against_the_kubernetes_schemas(directory: str) -> None:
    resources = kustomize_build(directory)
    kinds = {r["kind"] for r in resources}
    assert {
        "Deployment",
        "Service",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    for found in resources:
        kubernetes_validate.validate(found, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_refuses_a_misspelled_field() -> None:
    (deployment,) = [r for r in kustomize_build("base") if r["kind"] == "Deployment"][:1]
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_every_kubernetes_container_setting_is_a_flag_or_a_limit_of_its_command(
    directory: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for found in kustomize_build(directory):
        if found["kind"] not in ("Deployment", "Job"):
            continue
        for container in found["spec"]["template"]["spec"]["containers"]:
            with monkeypatch.context() as scoped:
                parsed = vars(container_args(container, scoped))
            for variable in container.get("env", []):
                name = variable["name"]
                if name in LIMIT_VARIABLES:
                    continue
                flag = name.removeprefix("FLEETGATE_").lower()
                assert flag in parsed, f"{name} is not a flag of `fleetgate {container['args']}`"
                if "value" in variable:
                    got = parsed[flag]
                    want = variable["value"]
                    assert (got == want.split(",")) if isinstance(got, list) else str(got) == want
            assert container["resources"]["requests"], container["name"]


def test_the_control_plane_runs_two_replicas_over_the_schema_the_job_migrates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = kustomize_build("base")
    deployment = resource(resources, "Deployment", CONTROL_PLANE_SERVICE)
    assert deployment["spec"]["replicas"] == 2
    (control_plane,) = deployment["spec"]["template"]["spec"]["containers"]
    assert control_plane["args"] == ["control-plane", "--no-migrate"]
    job = pod_spec(resources, "Job", "fleetgate-migrate")
    (migrate,) = job["containers"]
    assert migrate["args"] == ["db", "upgrade"]

    def store(container: dict[str, Any]) -> Any:
        (db,) = [v for v in container["env"] if v["name"] == "FLEETGATE_DB"]
        return db["valueFrom"]

    assert store(migrate) == store(control_plane)
    args = container_args(control_plane, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in control_plane["ports"]}
    assert ports == {
        "admin": parse_host_port(args.admin_listen)[1],
        "sync": parse_host_port(args.sync_listen)[1],
    }
    for probe in ("readinessProbe", "livenessProbe"):
        assert control_plane[probe]["httpGet"] == {"path": "/health", "port": "admin"}


def test_nodes_are_ready_on_ready_alive_on_health_and_dial_the_control_plane_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = kustomize_build("base")
    (node,) = pod_spec(resources, "Deployment", "fleetgate-data-plane")["containers"]
    args = container_args(node, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in node["ports"]}
    assert ports == {
        "http": parse_host_port(args.listen)[1],
        "status": parse_host_port(args.status_listen)[1],
    }
    assert node["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "status"}
    assert node["livenessProbe"]["httpGet"] == {"path": "/health", "port": "status"}
    service = resource(resources, "Service", CONTROL_PLANE_SERVICE)
    sync_port = next(p["port"] for p in service["spec"]["ports"] if p["targetPort"] == "sync")
    assert args.control_plane == f"{CONTROL_PLANE_SERVICE}:{sync_port}"


def test_a_node_pod_is_given_the_time_to_drain_before_it_is_killed() -> None:
    spec = pod_spec(kustomize_build("base"), "Deployment", "fleetgate-data-plane")
    (node,) = spec["containers"]
    limits = Limits.from_environment(
        {v["name"]: v["value"] for v in node["env"] if v["name"] in LIMIT_VARIABLES}
    )
    sleep, seconds = node["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep"
    # preStop, then the node's drain, then its workers' 5 s to exit (data_plane/node.py)
    assert spec["terminationGracePeriodSeconds"] >= int(seconds) + limits.drain_timeout + 5


def test_services_autoscaler_and_disruption_budget_select_what_they_mean() -> None:
    resources = kustomize_build("base")
    for name in (CONTROL_PLANE_SERVICE, "fleetgate-data-plane"):
        template = resource(resources, "Deployment", name)["spec"]["template"]
        labels = template["metadata"]["labels"]
        port_names = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        service = resource(resources, "Service", name)["spec"]
        assert service["selector"].items() <= labels.items(), name
        assert {p["targetPort"] for p in service["ports"]} <= port_names, name
    hpa = resource(resources, "HorizontalPodAutoscaler", "fleetgate-data-plane")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fleetgate-data-plane",
    }
    assert hpa["minReplicas"] >= 2
    node_labels = resource(resources, "Deployment", "fleetgate-data-plane")["spec"]["template"][
        "metadata"
    ]["labels"]
    pdb = resource(resources, "PodDisruptionBudget", "fleetgate-data-plane")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= node_labels.items()
    assert pdb["minAvailable"] < hpa["minReplicas"]  # a drain can always evict one


def test_only_nodes_may_reach_config_sync() -> None:
    resources = kustomize_build("base")
    policy = resource(resources, "NetworkPolicy", CONTROL_PLANE_SERVICE)["spec"]
    control_plane = resource(resources, "Deployment", CONTROL_PLANE_SERVICE)["spec"]["template"]
    node = resource(resources, "Deployment", "fleetgate-data-plane")["spec"]["template"]
    assert (
        policy["podSelector"]["matchLabels"].items() <= control_plane["metadata"]["labels"].items()
    )
    assert policy["policyTypes"] == ["Ingress"]
    sync_rules = [
        rule for rule in policy["ingress"] if {"protocol": "TCP", "port": 50051} in rule["ports"]
    ]
    assert len(sync_rules) == 1
    (source,) = sync_rules[0]["from"]
    assert source["podSelector"]["matchLabels"].items() <= node["metadata"]["labels"].items()
    migrate = resource(resources, "Job", "fleetgate-migrate")["spec"]["template"]
    assert not source["podSelector"]["matchLabels"].items() <= migrate["metadata"]["labels"].items()


def test_the_example_overlay_labels_its_nodes_and_keeps_the_base_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = kustomize_build("base")
    overlay = kustomize_build("overlays/example")
    assert {(r["kind"], r["metadata"]["name"]) for r in base} <= {
        (r["kind"], r["metadata"]["name"]) for r in overlay
    }
    (node,) = pod_spec(overlay, "Deployment", "fleetgate-data-plane")["containers"]
    args = container_args(node, monkeypatch)
    assert "group=blue" in args.label
    assert args.control_plane == f"{CONTROL_PLANE_SERVICE}:50051"  # the base's env is kept
    for found in overlay:
        if found["kind"] != "Namespace":
            assert found["metadata"]["namespace"] == "fleetgate"
