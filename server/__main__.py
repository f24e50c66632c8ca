"""``python -m server``: the same as ``uc-workflow-mcp``."""

from server.cli import main

main()
