"""The SSRF guard: a webhook may only go to a public http(s) address.

Checked when a rule is saved and again at every delivery, because DNS can change in between.
At delivery the request goes to the very address that was checked (the host's name still in
the Host header and TLS SNI), so a name that resolves differently a moment later cannot steer
it elsewhere. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

MAX_URL = 2048
_EXCLUDED = frozenset(' "<>\\^`{|}')
RESOLVE_TIMEOUT_S = 5.0
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    """The URL is malformed or leads somewhere webhooks may not go; the message says why."""


@dataclass(frozen=True)
class Target:
    url: str  # the checked address in place of the host name
    host_header: str
    sni_hostname: str | None  # for https to a name: the certificate must match the name


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public(ip: Address) -> bool:
    """False for loopback, private, link-local, shared (CGNAT), reserved, documentation,
    unspecified and multicast addresses, including IPv4 ones wrapped in IPv6."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        return is_public(inner)
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class _Parts:
    scheme: str
    host: str
    port: int
    netloc: str
    rest: str  # path, query


def _parse(url: str) -> _Parts:
    if len(url) > MAX_URL:
        raise UnsafeTarget(f"longer than {MAX_URL} characters")
    # A URI is printable ASCII without the characters RFC 3986 excludes (anything else is
    # percent-encoded); urlsplit would pass them along.
    if not (url.isascii() and url.isprintable()) or not _EXCLUDED.isdisjoint(url):
        raise UnsafeTarget(
            'only printable ASCII without spaces or any of "<>\\^`{|} (percent-encode them)'
        )
    if "#" in url:
        raise UnsafeTarget("a fragment (#...) is not allowed")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("only http and https URLs are allowed")
    if not parts.hostname:
        raise UnsafeTarget("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("credentials in the URL are not allowed; the webhook is signed")
    if parts.fragment:
        raise UnsafeTarget("a fragment (#...) is not allowed")
    default = 443 if parts.scheme == "https" else 80
    rest = parts.path or "/"
    if parts.query:
        rest += "?" + parts.query
    netloc = parts.netloc
    return _Parts(parts.scheme, parts.hostname, port or default, netloc, rest)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError) as exc:
        raise UnsafeTarget(f"host {host!r} does not resolve ({exc})") from None
    found: list[Address] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnsafeTarget(f"host {host!r} does not resolve")
    return found


async def check_url(url: str, *, allow_private: bool) -> Target:
    """Where a webhook to `url` would go, or UnsafeTarget saying why it may not."""
    parts = _parse(url)
    literal = _literal(parts.host)
    addresses = [literal] if literal is not None else await _resolve(parts.host, parts.port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                # The address itself is not echoed: it would map internal DNS for the caller.
                what = "the address is" if literal is not None else f"{parts.host!r} resolves to"
                raise UnsafeTarget(
                    f"refused: {what} a loopback, private, link-local or reserved address "
                    "(set ALLOW_PRIVATE_WEBHOOKS=true to allow such targets)"
                )
    chosen = addresses[0]
    host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    return Target(
        url=f"{parts.scheme}://{host}:{parts.port}{parts.rest}",
        host_header=parts.netloc,
        sni_hostname=parts.host if parts.scheme == "https" and literal is None else None,
    )
