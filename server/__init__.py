"""The MCP server: serves the tools of the shared_client registry."""
