"""A secret generated once and kept in a file (the embedded default's JWT secret in DATA_DIR).

The file appears whole or not at all: the secret is written to a temporary file in the same
directory, created with mode 0600 (never readable by others, not even for a moment), flushed to
disk, then linked into place, which fails if another process got there first (we then use
theirs). A crash leaves at worst a stray temporary file, never an empty or partial secret.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import secrets
import stat
import tempfile

log = logging.getLogger(__name__)


class SecretFileError(Exception):
    """The file holds no usable secret; the message names it and says what to do."""


def read_or_create(path: pathlib.Path, *, min_bytes: int, variable: str) -> str:
    """The secret in `path`, created now if there is none. `variable` names the setting that
    would make the file unnecessary (for the messages)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        secret = secrets.token_hex(32)
        if _install(path, secret, replace=False, variable=variable):
            return secret
        # Another process started on the same directory at the same moment, and won.
        raw = path.read_bytes()
    except OSError as exc:
        raise SecretFileError(
            f"{path} cannot be read ({exc.strerror}): make it readable by this user, "
            f"or set {variable}"
        ) from None
    try:
        secret = raw.decode().strip()
    except UnicodeDecodeError:
        raise SecretFileError(f"{path} is not text: {_remedy(path, variable)}") from None
    if not secret:
        # Only an earlier version's crash between creating the file and writing it leaves
        # it empty; no token was ever signed with an empty secret, so none is lost.
        log.warning("%s was empty (an interrupted first start); a new secret is generated", path)
        secret = secrets.token_hex(32)
        _install(path, secret, replace=True, variable=variable)
        return secret
    if len(secret.encode()) < min_bytes:
        raise SecretFileError(
            f"{path} holds a secret of {len(secret.encode())} bytes, at least {min_bytes} are "
            f"needed: {_remedy(path, variable)}"
        )
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users: `chmod 600 %s`", path, path)
    return secret


def _remedy(path: pathlib.Path, variable: str) -> str:
    return (
        f"delete it to have a new one generated (tokens signed with the old one stop "
        f"working), or write a longer one there (e.g. `openssl rand -hex 32 > {path}`), "
        f"or set {variable}"
    )


def _install(path: pathlib.Path, secret: str, *, replace: bool, variable: str) -> bool:
    """Put the secret in place; False when not replacing and the file exists by now."""
    try:
        return _write(path, secret, replace=replace)
    except OSError as exc:
        raise SecretFileError(
            f"{path} cannot be written ({exc.strerror}): make {path.parent} writable by this "
            f"user, or set {variable}"
        ) from None


def _write(path: pathlib.Path, secret: str, *, replace: bool) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600, whatever the umask.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # unlike a rename, never over a file that exists
            except FileExistsError:
                return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _sync_directory(path.parent)
    return True


def _sync_directory(directory: pathlib.Path) -> None:
    """Make the new name itself durable, not only the file's contents."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
