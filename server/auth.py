"""Who may talk to the server: a shared token, and optionally TLS with client certificates.

The token is proved (never sent) on the raw socket before any RPyC object exists, so an
unauthenticated peer can reach nothing, and a program that took the port learns nothing. TLS,
when configured, wraps the socket first (client certificate required when a CA is given), then
the proofs cross through it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import socket
import ssl
import time
from pathlib import Path

from rpyc.utils.authenticators import AuthenticationError

from void_vfx.errors import AuthError
from void_vfx.protocol.paths import default_token_path
from void_vfx.protocol.wire import (
    AUTH_MAGIC,
    AUTH_NONCE_LEN,
    AUTH_PROOF_LEN,
    HANDSHAKE_NO,
    HANDSHAKE_OK,
    TOKEN_HEX_LEN,
    auth_proof,
    recv_exact,
    set_nodelay,
)

#: A peer has this long for the whole handshake (TLS and proofs); slow peers must not pin a
#: thread and a descriptor.
HANDSHAKE_TIMEOUT_S = 10.0


def ensure_token(token_file: str | os.PathLike | None = None) -> tuple[str, Path]:
    """Read the token, creating a random one (mode 0600) on first start. Returns (token, path).

    A token file that other users can read (or write) is refused, not quietly tightened: anyone
    may have copied the token already, so the owner must decide (tighten it, or make a new one).
    """
    path = Path(token_file) if token_file else default_token_path()
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuthError(
                f"{path}: the token file can be read by other users (mode {mode:04o}), so the "
                f"token may be known to them. Delete it to have a new token made at the next "
                f"start (then copy it to the clients again), or, if nobody else could read it, "
                f"run: chmod 600 {path}"
            )
        token = path.read_text(encoding="ascii").strip()
        if len(token) != TOKEN_HEX_LEN or any(c not in "0123456789abcdef" for c in token):
            raise AuthError(
                f"{path}: not a void-vfx token ({TOKEN_HEX_LEN} lowercase hex characters); "
                "delete the file to have a new one made"
            )
        return token, path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_hex(TOKEN_HEX_LEN // 2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token, path


class TokenAuthenticator:
    """An rpyc authenticator: optional TLS wrap, then the mutual token proof (see
    :mod:`void_vfx.protocol.wire`), all within one deadline of ``timeout`` seconds."""

    def __init__(
        self,
        token: str,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = HANDSHAKE_TIMEOUT_S,
    ) -> None:
        self._token = token
        self._ssl = ssl_context
        self.timeout = timeout

    def __call__(self, sock: socket.socket):
        set_nodelay(sock)
        deadline = time.monotonic() + self.timeout
        peer_cert = None
        try:
            peer = sock.getpeername()[0]
        except (OSError, IndexError):
            peer = "?"
        try:
            if self._ssl is not None:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock = self._ssl.wrap_socket(sock, server_side=True)
                peer_cert = sock.getpeercert()
            hello = recv_exact(sock, len(AUTH_MAGIC) + AUTH_NONCE_LEN, deadline)
            ok = len(hello) == len(AUTH_MAGIC) + AUTH_NONCE_LEN and hello.startswith(AUTH_MAGIC)
            if ok:
                client_nonce = hello[len(AUTH_MAGIC) :]
                server_nonce = secrets.token_bytes(AUTH_NONCE_LEN)
                sock.sendall(
                    server_nonce + auth_proof(self._token, b"server", client_nonce, server_nonce)
                )
                answer = recv_exact(sock, AUTH_PROOF_LEN, deadline)
                want = auth_proof(self._token, b"client", client_nonce, server_nonce)
                ok = len(answer) == AUTH_PROOF_LEN and hmac.compare_digest(answer, want)
            sock.sendall(HANDSHAKE_OK if ok else HANDSHAKE_NO)
        except (OSError, ssl.SSLError) as ex:
            raise AuthenticationError(f"handshake failed: {ex}") from ex
        if not ok:
            if all(c in b"0123456789abcdef" for c in hello[:16]) and len(hello) >= 16:
                raise AuthenticationError("an older client sent a token line; upgrade it")
            raise AuthenticationError("no proof of the token")
        sock.settimeout(None)
        return sock, {
            "tls": self._ssl is not None,
            "peer_cert": peer_cert is not None,
            "peer": peer,
        }


def server_ssl_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    """TLS for a server on the network; with ``ca``, clients must show a certificate it signed."""
    for label, p in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
        if p and not Path(p).is_file():
            raise AuthError(f"{label} {p}: file not found")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if ca:
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
