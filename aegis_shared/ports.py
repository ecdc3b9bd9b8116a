"""Whether the ports a server is told to listen on can be had, checked before anything starts.

A port clash found only when the server binds comes after the embedded database has started and
the one-time admin secret may have been printed, and arrives as a library's traceback. So the
collector, the gateway and the stack each try their ports first and stop with one line that
names the port and the variable to change. (Another process may still take a port in between:
the servers' own binds report that the same way.)
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass


class PortUnavailable(Exception):
    """A port cannot be listened on; the message says which and what to set."""


@dataclass(frozen=True)
class Listen:
    """An address a server will listen on, and the settings that choose it."""

    host: str
    port: int  # 0: any free port (always available); negative: not listened on at all
    variable: str  # e.g. "HTTP_PORT"
    host_variable: str  # e.g. "HTTP_HOST"


def check_free(addresses: Iterable[Listen]) -> None:
    """PortUnavailable for the first address that cannot be listened on now."""
    wanted = [a for a in addresses if a.port > 0]
    seen: dict[int, Listen] = {}
    for address in wanted:
        if (other := seen.get(address.port)) is not None:
            raise PortUnavailable(
                f"{other.variable} and {address.variable} are both {address.port}: "
                f"give {address.variable} a port of its own"
            )
        seen[address.port] = address
    for address in wanted:
        if (problem := bind_problem(address)) is not None:
            raise problem


def bind_problem(address: Listen) -> PortUnavailable | None:
    """Why the address cannot be listened on now, or None when it can."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError):
        return PortUnavailable(
            f"{address.host!r} is not an address of this machine: check {address.host_variable}"
        )
    with socket.socket(family, kind, proto) as probe:
        # As servers bind: a port whose old connections linger in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            return unavailable(address, exc)
    return None


def unavailable(address: Listen, exc: OSError) -> PortUnavailable:
    """The one-line error for a failed bind of `address`."""
    if exc.errno == errno.EADDRINUSE:
        return PortUnavailable(
            f"port {address.port} is in use on {address.host}: set {address.variable} to a "
            "free port (0: any free port)"
        )
    return PortUnavailable(
        f"cannot listen on {address.host}:{address.port} ({exc.strerror}): "
        f"check {address.host_variable} and {address.variable}"
    )
