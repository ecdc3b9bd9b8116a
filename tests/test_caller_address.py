"""The signed forwarded address (aegis_shared.caller_address): what the gateway vouches for, and
the shared secret's file. End to end (a forged address over gRPC): tests/test_login_limits.py."""

from __future__ import annotations

import pathlib
import stat

import pytest

from aegis_shared.caller_address import (
    MAX_AGE_S,
    SECRET_FILE,
    ForwardingKey,
    ensure_secret,
    peer_address,
    read_secret,
)

SECRET = b"s" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_signature_holds_for_its_address_its_key_and_a_while() -> None:
    clock = Clock()
    gateway, collector = ForwardingKey(SECRET, clock), ForwardingKey(SECRET, clock)
    (_, address), (_, signature) = gateway.metadata("203.0.113.7")
    assert address == "203.0.113.7"
    assert collector.verify("203.0.113.7", signature)
    assert not collector.verify("203.0.113.8", signature)  # another address
    assert not ForwardingKey(b"t" * 32, clock).verify("203.0.113.7", signature)  # another key
    assert not collector.verify("203.0.113.7", "")
    assert not collector.verify("203.0.113.7", "x.y")
    clock.now += MAX_AGE_S + 1  # a replay, later
    assert not collector.verify("203.0.113.7", signature)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        ForwardingKey(b"short")


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:51234", "127.0.0.1"),
        ("ipv6:[::1]:51234", "::1"),
        ("ipv6:[2001:db8::5]:443", "2001:db8::5"),
        ("unix:/tmp/socket", "unix"),
        ("", "unknown"),
    ],
)
def test_peer_addresses(peer: str, address: str) -> None:
    assert peer_address(peer) == address


def test_the_secret_file_is_made_once_private_and_whole(tmp_path: pathlib.Path) -> None:
    assert read_secret(None, tmp_path) is None  # the gateway never makes one
    first = ensure_secret(None, tmp_path)
    assert len(first) >= 32
    path = tmp_path / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_secret(None, tmp_path) == first == read_secret(None, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary file left
    # A configured secret wins; an empty file (a crash at the wrong time) is replaced.
    assert ensure_secret("c" * 40, tmp_path) == b"c" * 40
    path.write_text("")
    assert len(ensure_secret(None, tmp_path)) >= 32
