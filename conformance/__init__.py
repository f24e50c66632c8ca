"""MCP conformance tooling (see NOTES.md). Importable as ``conformance.run_conformance``."""
