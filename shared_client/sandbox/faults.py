"""Signals the app raises, in process, for emulated network faults (see SandboxTransport)."""

from __future__ import annotations

# Scope key SandboxTransport sets, so the app knows no real socket is involved.
IN_PROCESS_SCOPE_KEY = "uc_sandbox.in_process"


class SandboxNetworkFault(Exception):
    """Raised by the app after the request took effect, instead of a network failure."""


class SandboxConnectionReset(SandboxNetworkFault):
    """The connection was dropped after the change was committed."""


class SandboxReadTimeout(SandboxNetworkFault):
    """The answer never came, although the change was committed."""
