"""Where a call comes from, for the sign-in limits (collector.auth.ratelimit.LoginLimits).

A direct gRPC caller is the peer of its connection (`context.peer()`), which it cannot choose.
A REST caller reaches the collector through the gateway, so the peer is the gateway; the
gateway then vouches for its own caller's address in metadata, signed with an HMAC under a
secret that only the gateway and the collector hold (FORWARDING_SECRET, or a file in
DATA_DIR that the collector creates). A forwarded address without a valid, fresh signature is
ignored: anyone can set metadata, only the gateway can sign it. Trusting metadata by peer
address alone (a list of proxies) would let any local process on the gateway's loopback claim
any address.

The signature covers the address and the time it was made, and is good for MAX_AGE_S either
way (clock skew between hosts): replaying one needs the gateway's traffic to the collector,
and gets no more than the address the gateway saw.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import pathlib
import secrets
import time
from collections.abc import Callable

import grpc

log = logging.getLogger(__name__)

ADDRESS_KEY = "x-aegis-forwarded-for"
SIGNATURE_KEY = "x-aegis-forwarded-for-sig"
MAX_AGE_S = 300
SECRET_FILE = "forwarding_secret"
MIN_SECRET_BYTES = 32
MAX_ADDRESS = 64  # an IPv6 address with a zone fits; anything longer is not one
WARN_EVERY_S = 60.0


def source_key(address: str) -> str:
    """The unit that sign-in limits count per: an IPv4 address, or an IPv6 /64 (one host
    commonly holds a whole /64, so single IPv6 addresses would cost an attacker nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:MAX_ADDRESS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def peer_address(peer: str) -> str:
    """The host of a gRPC peer string: "ipv4:1.2.3.4:5678", "ipv6:[::1]:5678", "unix:…"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        host = rest.rpartition(":")[0]
        return host.removeprefix("[").removesuffix("]")
    return kind or "unknown"


class ForwardingKey:
    """Signs and checks a forwarded address; the gateway signs, the collector checks."""

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the forwarding secret must be at least {MIN_SECRET_BYTES} bytes")
        self._key = hashlib.sha256(b"aegisai forwarded-for v1\n" + secret).digest()
        self._clock = clock

    def _mac(self, stamp: str, address: str) -> str:
        return hmac.new(self._key, f"{stamp}\n{address}".encode(), hashlib.sha256).hexdigest()

    def metadata(self, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        stamp = str(int(self._clock()))
        return ((ADDRESS_KEY, address), (SIGNATURE_KEY, f"{stamp}.{self._mac(stamp, address)}"))

    def verify(self, address: str, signature: str) -> bool:
        stamp, _, mac = signature.partition(".")
        if not stamp.isdigit() or abs(self._clock() - int(stamp)) > MAX_AGE_S:
            return False
        return hmac.compare_digest(mac, self._mac(stamp, address))


def _secret_from_file(path: pathlib.Path) -> bytes | None:
    try:
        secret = path.read_text().strip().encode()
    except FileNotFoundError:
        return None
    return secret if len(secret) >= MIN_SECRET_BYTES else None


def read_secret(configured: str | None, data_dir: pathlib.Path) -> bytes | None:
    """FORWARDING_SECRET, else the collector's file in DATA_DIR, else None (the gateway's view:
    it never creates one)."""
    if configured:
        return configured.encode()
    return _secret_from_file(data_dir / SECRET_FILE)


def ensure_secret(configured: str | None, data_dir: pathlib.Path) -> bytes:
    """FORWARDING_SECRET, else the file in DATA_DIR, created (mode 0600) when missing or
    unusable. Written aside and linked into place, so a reader never sees a partial file and
    of two processes starting at once both keep the one that landed first."""
    if found := read_secret(configured, data_dir):
        return found
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    temporary = data_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            if _secret_from_file(path) is None:  # there but unusable (e.g. empty): replaced
                os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    found = _secret_from_file(path)
    if found is None:
        raise RuntimeError(f"{path} could not be written")
    return found


class CallerAddresses:
    """The source address of a call, as the sign-in limits count it."""

    def __init__(self, key: ForwardingKey | None) -> None:
        self._key = key
        self._warned = -WARN_EVERY_S

    def of(self, context: grpc.aio.ServicerContext) -> str:
        peer = peer_address(context.peer() or "")
        address = signature = None
        for name, value in context.invocation_metadata() or ():
            if name == ADDRESS_KEY and isinstance(value, str):
                address = value
            elif name == SIGNATURE_KEY and isinstance(value, str):
                signature = value
        if address is None:
            return source_key(peer)
        if (
            self._key is not None
            and signature is not None
            and len(address) <= MAX_ADDRESS
            and self._key.verify(address, signature)
        ):
            return source_key(address)
        self._warn(peer)
        return source_key(peer)

    def _warn(self, peer: str) -> None:
        # Either someone tries to choose their address, or the gateway holds another secret
        # (every REST caller then counts as the gateway's address): worth a line, not a flood.
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning(
                "a call from %s names a forwarded address without a valid signature; counted "
                "as %s (if that is the gateway: give it the collector's FORWARDING_SECRET)",
                peer,
                peer,
            )
