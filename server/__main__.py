"""``python -m server``: the same as ``uc-workflow-mcp``."""

import sys

from server.cli import main

sys.exit(main())
