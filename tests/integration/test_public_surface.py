"""The public surface (CLI, config keys, HTTP routes, metric families) is what was released.

``tests/public_surface.json`` is the surface as released; this test regenerates it from
the code. A refactor must leave it unchanged; a deliberate change regenerates the file
(``python tests/surface.py --write``) in the same commit, which makes the change visible
in review.
"""

from __future__ import annotations

import json

import pytest
import surface


@pytest.fixture(scope="module")
def released() -> dict[str, object]:
    return json.loads(surface.SNAPSHOT.read_text("utf-8"))


def test_cli_commands_and_options_are_unchanged(released: dict[str, object]) -> None:
    assert surface.cli_surface() == released["cli"]


def test_config_keys_and_types_are_unchanged(released: dict[str, object]) -> None:
    assert surface.config_surface() == released["config"]


def test_http_routes_are_unchanged(released: dict[str, object]) -> None:
    assert surface.routes_surface() == released["routes"]


def test_metric_names_types_and_labels_are_unchanged(released: dict[str, object]) -> None:
    assert surface.metrics_surface() == released["metrics"]
