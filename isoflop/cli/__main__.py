"""``python -m isoflop.cli``: the same as the ``scaling`` command."""

import sys

from isoflop.cli import main

sys.exit(main())
