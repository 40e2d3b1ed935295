"""`docker compose config` on the shipped docker-compose.yml: the Compose client's own
validation (its schema, references between services), which needs no container engine.

The wiring itself (mounts, ports, the resolver's address in delivermon's config) is
checked by tests/unit/test_container.py; this shows a real Compose client accepts the
file, and refuses it once a key is wrong.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import require_server

pytestmark = pytest.mark.compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose_client() -> list[str] | None:
    """`docker compose` (the plugin) when present, else Debian's `docker-compose`."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    client = compose_client()
    require_server(
        None if client is None else " ".join(client),
        "no Docker Compose client: apt-get install docker-compose",
    )
    assert client is not None
    return client


def config(compose: list[str], text: str) -> subprocess.CompletedProcess[str]:
    """`compose -f - config` on ``text``, read as if it were the repository's compose file."""
    return subprocess.run(
        [*compose, "--project-directory", str(ROOT), "-f", "-", "config"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_the_compose_client_accepts_the_stack_with_its_health_checked_resolver(
    compose: list[str],
) -> None:
    done = config(compose, COMPOSE_FILE.read_text("utf-8"))
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    services = resolved["services"]
    assert {"resolver", "delivermon", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert services["resolver"]["healthcheck"]["test"][:2] == ["CMD", "unbound-control"]
    assert services["delivermon"]["depends_on"]["resolver"]["condition"] == "service_healthy"
    # SIGKILL must not come before delivermon's own shutdown grace has run out.
    from monitor.daemon.app import DaemonOptions

    grace = services["delivermon"]["stop_grace_period"]
    assert grace.endswith("s")
    assert float(grace[:-1]) >= DaemonOptions().grace_seconds + 5


def test_the_compose_client_refuses_a_wrong_key(compose: list[str]) -> None:
    text = COMPOSE_FILE.read_text("utf-8")
    assert "start_period:" in text
    done = config(compose, text.replace("start_period:", "start_perod:"))
    assert done.returncode != 0
    assert "start_perod" in done.stderr
