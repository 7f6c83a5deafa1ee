"""Connecting the search to a running Ray cluster (``--executor ray --address HOST:PORT``).

Ray 2.5x+ clusters started with ``ray start`` have token authentication on as soon as a token
exists (``ray get-auth-token --generate`` writes ``~/.ray/auth_token``; a local ``ray.init()``
writes one too). ``ray.init(address=...)`` with an explicit address does *not* look for that
token, and when it is missing or wrong it retries for 20 s and then says only "Failed to
connect". Two more surprises of ``ray.init``: it rewrites a loopback address (``127.0.0.1``,
``localhost``) to this machine's interface address before connecting, so the error names an
address the user never gave.

This module gives the search the behaviour of Ray's own CLI, and clear errors:

* :func:`find_token`: the token the way Ray's CLI finds it: ``--ray-token-file``, then
  ``$RAY_AUTH_TOKEN``, ``$RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``.
* :func:`probe`: one gRPC call (``NodeInfoGcsService.GetClusterId``) to exactly the given
  address, without and with the token, within a few seconds: nobody listening, token required
  but none found, token rejected, or OK (and whether the cluster wants a token at all).
* :func:`connect`: enables token mode for this process when the cluster wants it, and calls
  ``ray.init`` with the given address used as given (no loopback rewrite).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

from sustainml.errors import SustainmlError

PROBE_TIMEOUT_S = 8.0
TOKEN_HINT = ("copy the head node's ~/.ray/auth_token to this machine's ~/.ray/auth_token, "
              "or pass --ray-token-file FILE (`ray get-auth-token` on the head prints the token)")


class RayClusterError(SustainmlError, RuntimeError):
    """The cluster at the given address cannot be used (unreachable, token missing or wrong)."""


@dataclass(frozen=True)
class Token:
    value: str
    source: str  # where it came from, for messages


def parse_address(address: str) -> Tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayClusterError(f"--address {address!r}: expected HOST:PORT of a Ray head node (e.g. 127.0.0.1:6379)")
    return host.strip("[]"), int(port)


def find_token(token_file: Optional[Path] = None) -> Optional[Token]:
    """The cluster token, looked up as Ray's CLI does (an explicit ``token_file`` first)."""
    if token_file is not None:
        path = Path(token_file).expanduser()
        try:
            value = path.read_text().strip()
        except OSError as exc:
            raise RayClusterError(f"--ray-token-file {path}: cannot read it ({exc.strerror})") from None
        if not value:
            raise RayClusterError(f"--ray-token-file {path}: the file is empty")
        return Token(value, str(path))
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return Token(os.environ["RAY_AUTH_TOKEN"].strip(), "$RAY_AUTH_TOKEN")
    for path, source in ((os.environ.get("RAY_AUTH_TOKEN_PATH"), "$RAY_AUTH_TOKEN_PATH"),
                         (str(Path.home() / ".ray" / "auth_token"), "~/.ray/auth_token")):
        if path and Path(path).is_file():
            value = Path(path).read_text().strip()
            if value:
                return Token(value, f"{source} ({path})")
    return None


def probe(address: str, token: Optional[Token]) -> bool:
    """Ask the GCS at exactly ``address`` for its cluster id. Returns whether the cluster
    requires a token; raises :class:`RayClusterError` saying why it cannot be used."""
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    parse_address(address)
    channel = grpc.insecure_channel(address)
    stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)

    def call(metadata: Tuple[Tuple[str, str], ...]) -> Optional[grpc.StatusCode]:
        try:
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=PROBE_TIMEOUT_S, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code()
        return None

    try:
        status = call(())
        if status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise RayClusterError(f"--address {address}: no Ray head node answers there within "
                                  f"{PROBE_TIMEOUT_S:.0f} s (start one with `ray start --head --port PORT`)")
        if status is None:
            return False
        if status != grpc.StatusCode.UNAUTHENTICATED:
            raise RayClusterError(f"--address {address}: the Ray head node answered with {status.name}")
        if token is None:
            raise RayClusterError(f"--address {address}: the Ray cluster requires token authentication and no "
                                  f"token was found ($RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token); "
                                  + TOKEN_HINT)
        if call((("authorization", f"Bearer {token.value}"),)) == grpc.StatusCode.UNAUTHENTICATED:
            raise RayClusterError(f"--address {address}: the Ray cluster rejected the token from {token.source}; "
                                  + TOKEN_HINT)
        return True
    finally:
        channel.close()


def _use_token(token: Token) -> None:
    """Token mode for this process (and the processes it starts), as Ray's CLI enables it: the
    environment, then Ray's cached config and token loader refreshed (Ray reads both once)."""
    from ray._raylet import AuthenticationTokenLoader, Config

    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = token.value
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def _address_as_given() -> Iterator[None]:
    """Keep ``ray.init`` from rewriting a loopback address to an interface address.

    ``ray._private.services.canonicalize_bootstrap_address`` replaces 127.0.0.1/localhost by
    this node's interface IP; the address the user gave must be the one used. Where a Ray
    release lacks the function, Ray's own behaviour is kept."""
    from ray._private import services

    original = getattr(services, "canonicalize_bootstrap_address", None)
    if original is None:
        yield
        return
    services.canonicalize_bootstrap_address = lambda addr, temp_dir=None: addr  # type: ignore[assignment]
    try:
        yield
    finally:
        services.canonicalize_bootstrap_address = original


def connect(address: str, token_file: Optional[Path] = None) -> None:
    """Connect this process to the cluster at ``address`` (see the module docstring)."""
    import ray

    token = find_token(token_file)
    needs_token = probe(address, token)
    mode = os.environ.get("RAY_AUTH_MODE", "").lower()
    if needs_token:
        if mode == "disabled":
            raise RayClusterError(f"--address {address}: the Ray cluster requires token authentication but "
                                  "RAY_AUTH_MODE=disabled is set here; unset it")
        assert token is not None
        _use_token(token)
    with _address_as_given():
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayClusterError(f"--address {address}: the Ray cluster answered but ray.init failed ({exc})") from None
