"""The pure parts of ``uc-workflow-mcp``'s configuration: toolsets, loopback detection, the bind rule
and the DNS-rebinding allow-list."""

from __future__ import annotations

import pytest

from server.cli import check_http_binding, is_loopback, parse_toolsets, transport_security
from shared_client.commandline import UsageError


def test_parse_toolsets() -> None:
    assert parse_toolsets("tasks, people") == ["tasks", "people"]
    with pytest.raises(UsageError, match="unknown toolset 'billing'"):
        parse_toolsets("tasks,billing")
    with pytest.raises(UsageError):
        parse_toolsets(" , ")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.5", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_bind_needs_a_token() -> None:
    check_http_binding("127.0.0.1", None)
    check_http_binding("0.0.0.0", "a-bearer-token-of-24-chr")
    with pytest.raises(UsageError, match="UC_WORKFLOW_MCP_TOKEN"):
        check_http_binding("0.0.0.0", None)


def test_transport_security_allows_only_loopback_names() -> None:
    loopback = transport_security("127.0.0.1")
    assert loopback.enable_dns_rebinding_protection
    assert "127.0.0.1:*" in loopback.allowed_hosts and "localhost:*" in loopback.allowed_hosts
    assert not any("evil" in h for h in loopback.allowed_hosts)
    assert "http://localhost:*" in loopback.allowed_origins

    lan = transport_security("192.0.2.10")
    assert lan.enable_dns_rebinding_protection and "192.0.2.10:*" in lan.allowed_hosts

    # Every name of the machine answers on 0.0.0.0; there the bearer token is the guard.
    assert not transport_security("0.0.0.0").enable_dns_rebinding_protection
