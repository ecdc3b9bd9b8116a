"""The SSRF guard: a webhook may only go to a public http(s) address.

Checked when a rule is saved and again at every delivery, because DNS can change in between.
At delivery the request goes to the very address that was checked (the host's name still in
the Host header and TLS SNI), so a name that resolves differently a moment later cannot steer
it elsewhere. Redirects are not followed.

Host names are looked up on a few threads of the guard's own, never on the event loop's default
executor: argon2 hashing runs there (collector.auth.clients), so a burst of sign-ins would stall
rule writes and deliveries, and look-ups that hang would stall sign-ins. Each look-up is bounded by
RESOLVE_TIMEOUT_S; getaddrinfo cannot be interrupted, so one that outlives it finishes in its
(daemon) thread, which stays counted until then: hanging look-ups can fill the threads, and
then later ones wait and are cut at the same bound. Nothing else waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_URL = 2048
_EXCLUDED = frozenset(' "<>\\^`{|}')
RESOLVE_TIMEOUT_S = 2.0
RESOLVER_THREADS = 8
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> getaddrinfo's answer; socket.getaddrinfo in production.
Lookup = Callable[[str, int], list[tuple[Any, ...]]]


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


def _getaddrinfo(host: str, port: int) -> list[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the waiter gave up (timeout) or went away
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Resolver:
    """Host name look-ups, at most `threads` at once, each answered within `timeout_s`."""

    def __init__(
        self,
        *,
        timeout_s: float = RESOLVE_TIMEOUT_S,
        threads: int = RESOLVER_THREADS,
        lookup: Lookup = _getaddrinfo,
    ) -> None:
        self.timeout_s = timeout_s
        self._lookup = lookup
        self._slots = threading.BoundedSemaphore(threads)

    def _start(self, host: str, port: int, future: asyncio.Future[Any]) -> None:
        loop = future.get_loop()

        def run() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = self._lookup(host, port)
            except BaseException as exc:  # handed to the waiter, who decides
                error = exc
            finally:
                self._slots.release()
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)

        # Daemon: a look-up hanging at shutdown must not hold the process.
        threading.Thread(target=run, name="webhook-dns", daemon=True).start()

    async def _answer(self, host: str, port: int) -> list[tuple[Any, ...]]:
        # Every thread busy means look-ups are hanging: poll for a free one (rare). Not an
        # asyncio primitive: a thread frees its slot, maybe after its loop has gone.
        while not self._slots.acquire(blocking=False):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            self._start(host, port, future)
        except BaseException:
            self._slots.release()
            raise
        infos: list[tuple[Any, ...]] = await future
        return infos

    async def resolve(self, host: str, port: int) -> list[Address]:
        try:
            async with asyncio.timeout(self.timeout_s):
                infos = await self._answer(host, port)
        except TimeoutError:
            raise UnsafeTarget(
                f"host {host!r} could not be resolved within {self.timeout_s:g} s"
            ) from None
        except (OSError, UnicodeError) as exc:  # UnicodeError: e.g. a label over 63 bytes
            raise UnsafeTarget(f"host {host!r} does not resolve ({exc})") from None
        found: list[Address] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
            if address not in found:
                found.append(address)
        if not found:
            raise UnsafeTarget(f"host {host!r} does not resolve")
        return found


# The one resolver of the process: rule writes and deliveries share its threads.
RESOLVER = Resolver()


async def check_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Target:
    """Where a webhook to `url` would go, or UnsafeTarget saying why it may not."""
    parts = _parse(url)
    literal = _literal(parts.host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await (resolver or RESOLVER).resolve(parts.host, parts.port)
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
