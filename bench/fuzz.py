"""Coverage-guided fuzzing (atheris, libFuzzer) of one parser of the parser table
(monitor/ingest/parsers.py): ``python bench/fuzz.py NAME [libFuzzer options]``.

Seeds are the table's examples and its corpus files. Any exception other than the
parser's documented refusal is a crash: libFuzzer stops and writes the input to
``crash-*``. ``make fuzz`` runs the ARF, SPF and DMARC aggregate report parsers for
FUZZ_SECONDS each. Not in CI.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import atheris

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

with atheris.instrument_imports(include=["monitor", "checks"]):
    from monitor.ingest.parsers import parser_by_name

CORPUS = REPO.parent / "shared" / "corpus"


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    spec = parser_by_name(sys.argv[1])
    seeds = Path(tempfile.mkdtemp(prefix=f"fuzz-{spec.name}-"))
    samples = list(spec.examples)
    for pattern in spec.corpus:
        samples += [p.read_bytes() for p in sorted(CORPUS.glob(pattern))]
    for index, sample in enumerate(samples):
        (seeds / f"seed-{index}").write_bytes(sample)

    def one_input(data: bytes) -> None:
        with contextlib.suppress(spec.refusals):  # the documented refusal is no crash
            spec.parse(data)

    print(f"fuzzing {spec.name} from {len(samples)} seeds in {seeds}", flush=True)
    atheris.Setup([sys.argv[0], *sys.argv[2:], str(seeds)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
