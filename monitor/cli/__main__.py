"""``python -m monitor.cli``: the same as the ``delivermon`` command."""

import sys

from monitor.cli.entry import main

sys.exit(main())
