"""The public test corpus in ../shared/corpus (real third-party samples, see PROVENANCE.md).

Parametrise with ``corpus_params("arf/*.eml")`` and request the ``corpus_dir``
fixture in the test: where the corpus is missing the test skips with the reason
(fails under ``CI=true``, where ../shared is always present).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
MISSING = "../shared/corpus not found beside the checkout (the public test corpus)"


def corpus_params(pattern: str) -> list[Any]:
    """One ``pytest.param`` per matching corpus file, id'd by its name; a placeholder if absent."""
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    found = sorted(CORPUS.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no corpus file matches {pattern!r} under {CORPUS}")
    return [pytest.param(path, id=path.name) for path in found]
