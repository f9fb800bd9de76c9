"""What a server address says about where the server is."""

from __future__ import annotations

import ipaddress


def is_loopback(address: str) -> bool:
    """Whether ``host:port`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    host = address.rpartition(":")[0] if ":" in address else address
    return is_loopback_host(host)


def is_loopback_host(host: str) -> bool:
    """Whether a host name or IP address (``[::1]`` too) is this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
