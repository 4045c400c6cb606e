"""``python -m amlplatform.cli``: the same as the ``amlplatform`` command."""

import sys

from amlplatform.cli import main

sys.exit(main())
