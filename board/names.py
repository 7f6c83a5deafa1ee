"""Names and paths that come from bundles, manifests, inventories and boards: checked where they enter.

The one place that says what a safe name or path is, used on the host (before connecting) and
on the board (before writing). Nothing here touches the file system except :func:`inside`.

- a *name* (board, overlay, runtime id, release, results file): ``[A-Za-z0-9][A-Za-z0-9._-]*``,
  at most 128 characters; no ``/``, no leading dot, nothing a shell or a path would interpret;
- a *relative path* (a bundle's file): ``/``-separated segments of ``[A-Za-z0-9._+-]`` (a
  leading dot allowed: ``.venv``), not absolute, no ``..``, ``.`` or empty segment;
  :func:`inside` also resolves it (symlinks included) under its root;
- an *absolute path* (an overlay root, a board Python): ``/`` then such segments, no ``..``
  or ``.`` segment.

Board-side module: standard library only (Python 3.8+).
"""
from __future__ import annotations

import os
import re
from typing import Type

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEGMENT = re.compile(r"[A-Za-z0-9._+-]{1,128}")  # "." and ".." are refused separately
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:%_-]{0,252}")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")


class UnsafeName(ValueError):
    """A name or path outside the allowed character set, or leaving its root."""


def _show(value: object) -> str:
    return repr(value)[:80]


def check_name(value: object, what: str, error: Type[Exception] = UnsafeName) -> str:
    """``value`` as a safe name, else ``error`` naming ``what``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise error(f"{what} {_show(value)} is not a safe name (letters, digits, '.', '_', '-'; "
                    "no leading dot, at most 128 characters)")
    return value


def check_relpath(value: object, what: str, error: Type[Exception] = UnsafeName) -> str:
    """``value`` as a safe relative POSIX path (names separated by ``/``), else ``error``."""
    if not isinstance(value, str) or not value or value.startswith("/"):
        raise error(f"{what} {_show(value)} must be a relative path inside the bundle")
    for seg in value.split("/"):
        if seg in ("", ".", "..") or not _SEGMENT.fullmatch(seg):
            raise error(f"{what} {_show(value)} must be a relative path of safe names "
                        "(no '..', no empty or '.' segment, letters, digits, '.', '_', '+', '-')")
    return value


def check_abspath(value: object, what: str, error: Type[Exception] = UnsafeName) -> str:
    """``value`` as a safe absolute POSIX path, else ``error``."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise error(f"{what} {_show(value)} must be an absolute path")
    segs = [s for s in value.split("/") if s]
    if any(s in (".", "..") or not _SEGMENT.fullmatch(s) for s in segs):
        raise error(f"{what} {_show(value)} must be an absolute path of safe names "
                    "(no '..', letters, digits, '.', '_', '+', '-')")
    return value


def check_host(value: object, what: str, error: Type[Exception] = UnsafeName) -> str:
    """A host name or IP address (v4, or v6 with an optional %zone)."""
    if not isinstance(value, str) or not _HOST.fullmatch(value):
        raise error(f"{what} {_show(value)} is not a host name or IP address")
    return value


def check_user(value: object, what: str, error: Type[Exception] = UnsafeName) -> str:
    """A POSIX user name."""
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise error(f"{what} {_show(value)} is not a user name")
    return value


def inside(root: str, rel: str, what: str, error: Type[Exception] = UnsafeName) -> str:
    """``root/rel`` after :func:`check_relpath`, resolved (symlinks followed) and still under ``root``."""
    check_relpath(rel, what, error)
    base = os.path.realpath(root)
    full = os.path.realpath(os.path.join(base, rel))
    if os.path.commonpath([base, full]) != base:
        raise error(f"{what} {_show(rel)} resolves to {full}, outside {base}")
    return full
