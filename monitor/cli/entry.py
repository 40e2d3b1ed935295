"""The ``delivermon`` console script: for ``run``, a SIGHUP is held from the first line,
before the imports a start takes a second or so for (``monitor.signals``)."""

from __future__ import annotations

import sys


def main() -> int:
    if "run" in sys.argv[1:]:
        from monitor.signals import hold_sighup

        hold_sighup()
    from monitor.cli.main import main as cli_main

    return cli_main()
