"""The Dockerfiles and docker-compose.yml, checked without a container engine.

The compose file is parsed with PyYAML and its wiring checked (the Compose client's
own validation, ``docker compose config``, is tests/integration/test_compose_config.py).
Every file they copy or bind-mount exists in the repository, the ports agree
with the daemon's and the services', the health checks probe /healthz and the
resolver, the image runs as a non-root user, and the compose stack is wired to the
shipped rules, Alertmanager config, dashboards and its own resolver (Unbound, with
deploy/unbound.conf, which tests/integration/test_unbound.py runs).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DAEMON_PORT = 9640


def dockerfile_instructions(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = path.read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    found = []
    for entry in logical:
        instruction, _, args = entry.partition(" ")
        found.append((instruction.upper(), args.strip()))
    return found


INSTRUCTIONS = dockerfile_instructions()


def args_of(name: str) -> list[str]:
    return [args for instruction, args in INSTRUCTIONS if instruction == name]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return data


SERVICES = compose()["services"]


def test_multi_stage_slim_python_311() -> None:
    bases = args_of("FROM")
    assert len(bases) >= 2
    for base in bases:
        assert base.split()[0] == "python:3.11-slim"


def test_every_copy_source_exists() -> None:
    copies = args_of("COPY")
    assert copies
    for args in copies:
        words = shlex.split(args)
        if any(word.startswith("--from=") for word in words):
            continue  # from another stage, not the build context
        sources = [word for word in words[:-1] if not word.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_dockerignore_keeps_what_copy_needs() -> None:
    ignored = (ROOT / ".dockerignore").read_text("utf-8").split()
    for args in args_of("COPY"):
        for word in shlex.split(args)[:-1]:
            assert word.split("/")[0] not in ignored


def test_runs_as_non_root() -> None:
    users = args_of("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_healthcheck_probes_healthz_with_python() -> None:
    (check,) = args_of("HEALTHCHECK")
    assert f"http://127.0.0.1:{DAEMON_PORT}/healthz" in check
    assert "urllib.request" in check
    assert "curl" not in check
    assert "wget" not in check


def test_volumes_entrypoint_and_command() -> None:
    (volumes,) = args_of("VOLUME")
    assert set(re.findall(r'"([^"]+)"', volumes)) == {"/etc/delivermon", "/var/lib/delivermon"}
    assert args_of("ENTRYPOINT") == ['["delivermon"]']
    assert args_of("CMD") == [
        '["run", "--config", "/etc/delivermon/delivermon.toml", "--listen", "0.0.0.0:9640"]'
    ]
    assert args_of("EXPOSE") == [str(DAEMON_PORT)]
    # `docker compose exec delivermon delivermon doctor` reads the file run reads
    assert "DELIVERMON_CONFIG=/etc/delivermon/delivermon.toml" in args_of("ENV")


def test_a_plain_install_and_uvloop_is_checked_to_be_there() -> None:
    runs = " ".join(args_of("RUN"))
    assert "pip install . " in runs + " "  # no extra: uvloop is a default dependency
    assert "import uvloop" in runs


def _ports(service: str) -> set[tuple[int, int]]:
    found = set()
    for entry in SERVICES[service].get("ports", []):
        host, _, container = str(entry).rpartition(":")
        found.add((int(host), int(container)))
    return found


@pytest.mark.parametrize(
    ("service", "port"),
    [("delivermon", DAEMON_PORT), ("prometheus", 9090), ("alertmanager", 9093), ("grafana", 3000)],
)
def test_compose_ports(service: str, port: int) -> None:
    assert _ports(service) == {(port, port)}


def _bind_mounts() -> list[tuple[str, str, str]]:
    mounts = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = str(volume).split(":")[:2]
            if source.startswith((".", "/")):
                mounts.append((name, source, target))
    return mounts


@pytest.mark.parametrize(("service", "source", "target"), _bind_mounts())
def test_every_bind_mount_exists(service: str, source: str, target: str) -> None:
    assert (ROOT / source).exists(), f"{service}: {source} is not in the repository"


def test_compose_wires_the_shipped_files() -> None:
    mounts = {(service, target): source for service, source, target in _bind_mounts()}
    assert mounts[("delivermon", "/etc/delivermon/delivermon.toml")].endswith(".toml")
    assert mounts[("prometheus", "/etc/prometheus/rules")] == "./rules"
    assert mounts[("alertmanager", "/etc/alertmanager/alertmanager.yml")] == "./alertmanager.yml"
    assert SERVICES["delivermon"]["build"] == "."
    data_volumes = [str(v) for v in SERVICES["delivermon"]["volumes"]]
    assert any(v.endswith(":/var/lib/delivermon") for v in data_volumes)


def test_compose_prometheus_config_points_at_services() -> None:
    source = ROOT / SERVICES["prometheus"]["volumes"][0].split(":")[0]
    config = yaml.safe_load(source.read_text("utf-8"))
    (scrape,) = config["scrape_configs"]
    assert scrape["job_name"] == "delivermon"
    assert scrape["static_configs"][0]["targets"] == [f"delivermon:{DAEMON_PORT}"]
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]
    assert config["rule_files"] == ["rules/*.yml"]
    top = yaml.safe_load((ROOT / "prometheus.yml").read_text("utf-8"))
    assert top["scrape_configs"][0]["static_configs"][0]["targets"] == [f"localhost:{DAEMON_PORT}"]
    assert top["rule_files"] == config["rule_files"]


def test_grafana_provisioning_matches_mounts() -> None:
    mounts = {(service, target): source for service, source, target in _bind_mounts()}
    provider = yaml.safe_load(
        (ROOT / "dashboards/provisioning/dashboards/delivermon.yml").read_text("utf-8")
    )
    path = provider["providers"][0]["options"]["path"]
    assert mounts[("grafana", path)] == "./dashboards"
    datasource = yaml.safe_load(
        (ROOT / "dashboards/provisioning/datasources/prometheus.yml").read_text("utf-8")
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


# --- the resolver ------------------------------------------------------------------------

RESOLVER = SERVICES.get("resolver", {})


def _resolver_address() -> str:
    return str(RESOLVER["networks"]["stack"]["ipv4_address"])


def test_the_resolver_is_debians_unbound_on_the_official_debian_image() -> None:
    assert RESOLVER["build"] == "deploy/resolver"
    instructions = dockerfile_instructions(ROOT / "deploy" / "resolver" / "Dockerfile")
    bases = [args for name, args in instructions if name == "FROM"]
    assert len(bases) == 1
    assert re.fullmatch(r"debian:[a-z]+-slim", bases[0])
    runs = " ".join(args for name, args in instructions if name == "RUN")
    assert "install -y --no-install-recommends unbound dns-root-data" in runs
    assert "/var/lib/unbound/root.key" in runs  # the trust anchor the config reads
    (entry,) = [args for name, args in instructions if name == "ENTRYPOINT"]
    assert entry == '["unbound", "-d", "-p", "-c", "/etc/unbound/unbound.conf"]'


def test_the_resolver_runs_the_shipped_config_and_is_health_checked() -> None:
    volumes = [str(v) for v in RESOLVER["volumes"]]
    assert "./deploy/unbound.conf:/etc/unbound/unbound.conf:ro" in volumes
    test = RESOLVER["healthcheck"]["test"]
    assert test == ["CMD", "unbound-control", "-c", "/etc/unbound/unbound.conf", "status"]
    assert "ports" not in RESOLVER  # private to the stack's network


def test_the_resolver_answers_exactly_the_stacks_network() -> None:
    (pool,) = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))["networks"]["stack"][
        "ipam"
    ]["config"]
    subnet = ipaddress.ip_network(pool["subnet"])
    assert ipaddress.ip_address(_resolver_address()) in subnet
    conf = (ROOT / "deploy" / "unbound.conf").read_text("utf-8")
    allowed = re.findall(r"^\s*access-control:\s*(\S+)\s+allow\s*$", conf, re.MULTILINE)
    assert allowed == ["127.0.0.0/8", str(subnet)]
    assert re.search(r"^\s*access-control:\s*0\.0\.0\.0/0\s+refuse\s*$", conf, re.MULTILINE)
    for name, service in SERVICES.items():
        assert "stack" in service["networks"], name


def test_delivermons_compose_config_names_the_resolver_and_waits_for_it() -> None:
    mounts = {(svc, target): source for svc, source, target in _bind_mounts()}
    source = mounts[("delivermon", "/etc/delivermon/delivermon.toml")]
    assert source == "./deploy/delivermon.compose.toml"
    config = parse_config((ROOT / source).read_text("utf-8"))
    assert config.dns.nameservers == [f"{_resolver_address()}:53"]
    assert SERVICES["delivermon"]["depends_on"] == {"resolver": {"condition": "service_healthy"}}


def test_the_compose_config_is_the_example_with_the_stacks_resolver() -> None:
    compose = tomllib.loads((ROOT / "deploy" / "delivermon.compose.toml").read_text("utf-8"))
    example = tomllib.loads((ROOT / "examples" / "delivermon.toml").read_text("utf-8"))
    assert example["dns"]["nameservers"] == ["127.0.0.1:53"]  # make run: the host's resolver
    compose["dns"]["nameservers"] = example["dns"]["nameservers"]
    assert compose == example


def test_the_compose_config_keeps_the_examples_commented_sections() -> None:
    # The parsed comparison above cannot see comments; the commented [dmarc],
    # [telemetry.*] and [[notify]] examples a user uncomments must match too.
    def after_nameservers(path: Path) -> str:
        text = path.read_text("utf-8")
        return text.split("\nnameservers = ", 1)[1].split("\n", 1)[1]

    compose = after_nameservers(ROOT / "deploy" / "delivermon.compose.toml")
    assert compose == after_nameservers(ROOT / "examples" / "delivermon.toml")
