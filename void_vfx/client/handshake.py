"""Reaching a server: the token file, TLS, the token handshake, remote errors.

Stdlib + rpyc only (host Pythons import the client, which imports this).
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import Any

from rpyc.utils.factory import connect_channel

from void_vfx import errors
from void_vfx.errors import AuthError, ServerError
from void_vfx.protocol.paths import default_token_path
from void_vfx.protocol.wire import (
    HANDSHAKE_OK,
    TOKEN_HEX_LEN,
    ClientService,
    make_channel,
    protocol_config,
    set_nodelay,
)


def find_token(token_file: str | os.PathLike | None = None) -> str:
    """The server token: ``token_file``, else $VOID_VFX_TOKEN_FILE, else the user's config folder."""
    path = Path(token_file or os.environ.get("VOID_VFX_TOKEN_FILE") or default_token_path())
    try:
        token = path.read_text(encoding="ascii").strip()
    except OSError as ex:
        raise AuthError(
            f"{path}: cannot read the server token ({ex.strerror}). Start the server once "
            "(void-vfx serve) to create it, or copy the server's token file here (mode 0600) "
            "and pass --token-file"
        ) from None
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


def open_connection(host: str, port: int, token: str, tls: Any = None, timeout: float = 10.0):
    """Socket, optional TLS, token handshake, then an RPyC connection on the fast channel.

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
        sock.sendall((token + "\n").encode("ascii"))
        answer = b""
        while len(answer) < len(HANDSHAKE_OK):
            piece = sock.recv(len(HANDSHAKE_OK) - len(answer))
            if not piece:
                break
            answer += piece
    except (OSError, ssl.SSLError) as ex:
        sock.close()
        raise AuthError(f"{host}:{port}: handshake failed ({ex}); check TLS settings") from None
    if answer != HANDSHAKE_OK:
        sock.close()
        raise AuthError(
            f"{host}:{port} refused the token; copy the server's token file "
            "(see 'void-vfx doctor') or pass --token-file"
        )
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
