"""The classifier against ../shared/corpus/bounces: every disagreement is explained here.

``bench/bounce_accuracy.py`` (``make bounce-accuracy``) computes the per-class agreement;
README.md shows the table it prints (checked below). An item that disagrees and is not in
``EXPLAINED`` fails, and so does an explained item that has come to agree (the
explanation would be stale).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each disagreement with the corpus's label, and why it stays.
EXPLAINED = {
    "reputation-ratelimit__sisimai__rhost-franceptt-11.eml": (
        "La Poste's '421 4.2.1 Service refuse. Veuillez essayer plus tard ... LPN006_107' "
        "says only 'try later'; La Poste documents no meaning for LPN006 that we could cite, "
        "so the text's own words (transient) win over an undocumented code."
    ),
}


def _accuracy() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bounce_accuracy", ROOT / "bench/bounce_accuracy.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bounce_accuracy"] = module
    spec.loader.exec_module(module)
    return module


def test_every_disagreement_is_explained(corpus_dir: Path) -> None:
    acc = _accuracy()
    bounces = corpus_dir / "bounces"
    items = acc.reply_items(bounces) + acc.message_items(bounces)
    assert len(items) == 48 + 86
    wrong = {i.name: (i.expected, i.got) for i in items if not i.agrees}
    assert set(wrong) == set(EXPLAINED), wrong


def test_readme_shows_the_table_the_command_prints(corpus_dir: Path) -> None:
    printed = subprocess.run(
        [sys.executable, str(ROOT / "bench/bounce_accuracy.py"), str(corpus_dir / "bounces")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed.startswith("| class |")
    assert printed in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("not-a-bounce__sisimai__rfc3834-01.eml", "autoreply"),
        ("not-a-bounce__sisimai__rfc3834-02.eml", "autoreply"),
        ("not-a-bounce__sisimai__rfc3834-03.eml", "autoreply"),
        ("not-a-bounce__sisimai__rfc3464-28.eml", "delivered"),
        ("not-a-bounce__sisimai__is-not-bounce-01.eml", "not_a_bounce"),
    ],
)
def test_negatives_say_why(corpus_dir: Path, name: str, reason: str) -> None:
    from monitor.ingest.dsn import NotBounceError, parse_bounce

    with pytest.raises(NotBounceError) as refused:
        parse_bounce((corpus_dir / "bounces" / name).read_bytes())
    assert refused.value.reason == reason
