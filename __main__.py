"""``python -m upqueue``: the same program as the ``upqueue`` command."""

import sys

from upqueue.main import main

sys.exit(main())
