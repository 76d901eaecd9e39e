"""The token never crosses the wire: both ends prove they hold it, the server first.

A program that took the server's port (another local user, after the server stopped) is played
by a plain socket listener on 127.0.0.1 that records every byte a client sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import threading

import pytest
from _server_fakes import private_config, start_server  # noqa: F401

from void_vfx.client import connect
from void_vfx.errors import AuthError
from void_vfx.protocol.wire import AUTH_MAGIC, AUTH_NONCE_LEN, AUTH_PROOF_LEN, HANDSHAKE_OK


class _Impostor:
    """Listens on a loopback port, answers each client with ``reply(hello)``, keeps what came."""

    def __init__(self, reply) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self._reply = reply
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(5)
            hello = conn.recv(len(AUTH_MAGIC) + AUTH_NONCE_LEN)
            self.received += hello
            conn.sendall(self._reply(hello))
            try:  # whatever comes next (a client proof), then it hangs up
                self.received += conn.recv(AUTH_PROOF_LEN, socket.MSG_WAITALL)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def _proof(key: str, role: bytes, cn: bytes, sn: bytes) -> bytes:
    # Written from the protocol's description, not by calling the code under test.
    return hmac.new(key.encode(), b"void-vfx/2 " + role + b" " + cn + sn, hashlib.sha256).digest()


@pytest.mark.parametrize("kind", ["random", "replayed", "wrong-token"])
def test_a_server_that_cannot_prove_the_token_gets_nothing(kind):
    token = os.urandom(32).hex()

    def reply(hello: bytes) -> bytes:
        cn = hello[len(AUTH_MAGIC) :]
        sn = os.urandom(AUTH_NONCE_LEN)
        if kind == "random":
            return os.urandom(AUTH_NONCE_LEN + AUTH_PROOF_LEN)
        if kind == "replayed":  # a proof of the right token, but for other nonces
            return sn + _proof(token, b"server", os.urandom(AUTH_NONCE_LEN), sn)
        return sn + _proof("1" * 64, b"server", cn, sn)

    impostor = _Impostor(reply)
    try:
        with pytest.raises(AuthError, match="could not prove it holds your token"):
            connect("127.0.0.1", impostor.port, token=token)
    finally:
        impostor.close()
    # It got the greeting and a random nonce: no token, no proof of the client's.
    assert len(impostor.received) == len(AUTH_MAGIC) + AUTH_NONCE_LEN
    assert impostor.received.startswith(AUTH_MAGIC)
    assert token.encode() not in impostor.received


def test_the_client_proof_reaches_only_a_server_that_proved_itself(tmp_path):
    """Against an honest impostor that knows the token (as the real server does), the client
    sends exactly the proof the protocol describes, never the token."""
    token = os.urandom(32).hex()
    nonces = {}

    def reply(hello: bytes) -> bytes:
        nonces["c"], nonces["s"] = hello[len(AUTH_MAGIC) :], os.urandom(AUTH_NONCE_LEN)
        return nonces["s"] + _proof(token, b"server", nonces["c"], nonces["s"])

    impostor = _Impostor(reply)
    try:
        with pytest.raises(AuthError):  # it never answers OK
            connect("127.0.0.1", impostor.port, token=token, timeout=2)
    finally:
        impostor.close()
    proof = impostor.received[len(AUTH_MAGIC) + AUTH_NONCE_LEN :]
    assert proof == _proof(token, b"client", nonces["c"], nonces["s"])
    assert token.encode() not in impostor.received


def test_the_real_server_proves_itself_and_a_replayed_client_proof_is_refused(tmp_path):
    srv = start_server(tmp_path)
    try:
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            assert c.info()["api_version"] >= 1
        # A recorded client proof does not open another connection (fresh server nonce).
        cn = os.urandom(AUTH_NONCE_LEN)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(AUTH_MAGIC + cn)
            got = s.recv(AUTH_NONCE_LEN + AUTH_PROOF_LEN, socket.MSG_WAITALL)
            sn1 = got[:AUTH_NONCE_LEN]
            assert got[AUTH_NONCE_LEN:] == _proof(srv.token, b"server", cn, sn1)
            recorded = _proof(srv.token, b"client", cn, sn1)
            s.sendall(recorded)
            assert s.recv(3, socket.MSG_WAITALL) == HANDSHAKE_OK
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(AUTH_MAGIC + cn)
            s.recv(AUTH_NONCE_LEN + AUTH_PROOF_LEN, socket.MSG_WAITALL)
            s.sendall(recorded)
            assert s.recv(3, socket.MSG_WAITALL) != HANDSHAKE_OK
    finally:
        srv.close()
