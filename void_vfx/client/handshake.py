"""Reaching a server: the token file, TLS, the mutual token proof, remote errors.

Stdlib + rpyc only (host Pythons import the client, which imports this).
"""

from __future__ import annotations

import hmac
import os
import secrets
import socket
import ssl
import time
from pathlib import Path
from typing import Any

from rpyc.utils.factory import connect_channel

from void_vfx import errors
from void_vfx.errors import AuthError, ServerError
from void_vfx.protocol.paths import default_token_path
from void_vfx.protocol.wire import (
    AUTH_MAGIC,
    AUTH_NONCE_LEN,
    AUTH_PROOF_LEN,
    HANDSHAKE_OK,
    TOKEN_HEX_LEN,
    ClientService,
    auth_proof,
    make_channel,
    protocol_config,
    recv_exact,
    set_nodelay,
)


def find_token(token_file: str | os.PathLike | None = None) -> str:
    """The server token: ``token_file``, else $VOID_VFX_TOKEN_FILE, else the user's config folder.

    A token file other users can read is refused, as the server refuses it: the token may be
    known to them already."""
    path = Path(token_file or os.environ.get("VOID_VFX_TOKEN_FILE") or default_token_path())
    try:
        with open(path, encoding="ascii") as fh:
            mode = os.fstat(fh.fileno()).st_mode & 0o777
            token = fh.read(4096).strip()
    except (OSError, UnicodeDecodeError) as ex:
        reason = getattr(ex, "strerror", None) or "not a text file"
        raise AuthError(
            f"{path}: cannot read the server token ({reason}). Start the server once "
            "(void-vfx serve) to create it, or copy the server's token file here (mode 0600) "
            "and pass --token-file"
        ) from None
    if os.name == "posix" and mode & 0o077:
        raise AuthError(
            f"{path}: the token file can be read by other users (mode {mode:04o}), so they may "
            f"know the token. If nobody else could have read it, run: chmod 600 {path}; "
            "otherwise delete the server's token file, restart it and copy the new one"
        )
    if len(token) != TOKEN_HEX_LEN:
        raise AuthError(f"{path}: not a void-vfx token; copy it again from the server")
    return token


def _tls_context(tls: Any, host: str) -> ssl.SSLContext | None:
    """``tls``: None, an SSLContext, or a dict with ca (server CA), cert and key (client cert)."""
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.get("ca"))
    if tls.get("cert"):
        ctx.load_cert_chain(tls["cert"], tls.get("key"))
    if tls.get("no_hostname_check"):
        ctx.check_hostname = False
    return ctx


def prove(sock: socket.socket, token: str, where: str, timeout: float = 10.0) -> None:
    """The client's half of the mutual proof (see :mod:`void_vfx.protocol.wire`): the server
    proves first, and only a server that did gets the client's proof. The token itself never
    crosses the wire. Raises AuthError saying what to do."""
    deadline = time.monotonic() + timeout
    client_nonce = secrets.token_bytes(AUTH_NONCE_LEN)
    sock.sendall(AUTH_MAGIC + client_nonce)
    reply = recv_exact(sock, AUTH_NONCE_LEN + AUTH_PROOF_LEN, deadline)
    if len(reply) != AUTH_NONCE_LEN + AUTH_PROOF_LEN:
        raise AuthError(
            f"{where} closed the connection without proving it holds the token: it is not a "
            "void-vfx server of this version (upgrade it), or it refused this client (too many "
            "connections from here: its log says so)"
        )
    server_nonce, proof = reply[:AUTH_NONCE_LEN], reply[AUTH_NONCE_LEN:]
    if not hmac.compare_digest(proof, auth_proof(token, b"server", client_nonce, server_nonce)):
        raise AuthError(
            f"{where} could not prove it holds your token, so nothing was sent to it: either "
            "your token is not this server's (copy the server's token file, see 'void-vfx "
            "doctor', or pass --token-file) or another program is listening on that port"
        )
    sock.sendall(auth_proof(token, b"client", client_nonce, server_nonce))
    if recv_exact(sock, len(HANDSHAKE_OK), deadline) != HANDSHAKE_OK:
        raise AuthError(
            f"{where} refused the token; copy the server's token file "
            "(see 'void-vfx doctor') or pass --token-file"
        )


def open_connection(host: str, port: int, token: str, tls: Any = None, timeout: float = 10.0):
    """Socket, optional TLS, mutual token proof, then an RPyC connection on the fast channel.

    Raises AuthError or ServerError saying what to do.
    """
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as ex:
        raise ServerError(
            f"cannot reach a void-vfx server at {host}:{port} ({ex}); start one with "
            "'void-vfx serve' or check --server HOST:PORT"
        ) from None
    set_nodelay(sock)
    try:
        ctx = _tls_context(tls, host)
        if ctx is not None:
            sock = ctx.wrap_socket(sock, server_hostname=host)
        prove(sock, token, f"{host}:{port}", timeout)
    except (OSError, ssl.SSLError) as ex:
        sock.close()
        raise AuthError(f"{host}:{port}: handshake failed ({ex}); check TLS settings") from None
    except AuthError:
        sock.close()
        raise
    sock.settimeout(None)
    return connect_channel(make_channel(sock), service=ClientService, config=protocol_config())


def translate_error(ex: BaseException) -> BaseException:
    """Turn a remote void-vfx error (an rpyc generic exception) back into our own class."""
    short = type(ex).__name__.rsplit(".", 1)[-1]
    cls = getattr(errors, short, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.VoidVfxError)):
        return ex
    msg = str(ex.args[0]) if ex.args else short
    err = cls.__new__(cls)
    Exception.__init__(err, msg)
    if cls is errors.SpecError:
        err.field = getattr(ex, "field", "?")
    return err
