"""The server's end of an RPyC connection: only calls of exposed methods on the root get through,
with arguments of exact built-in types; nothing of the client is ever called."""

from __future__ import annotations

import re
import struct
from typing import Any

from rpyc.core import consts

from void_vfx.protocol.wire import FastConnection, load_request

_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))
#: Upload chunks arrive as views of the received frame (see void_vfx.protocol.wire._load_from).
_PLAIN_ARGS = (*_PLAIN_SCALARS, memoryview)


def _is_plain(value: Any, depth: int = 0, scalars: tuple = _PLAIN_SCALARS) -> bool:
    """Exact built-in types only, nested: ``type(x) is str`` (a str subclass is refused), and
    nothing of the value is asked anything (no method, hash or comparison of it runs)."""
    if depth > 8:
        return False
    kind = type(value)
    if any(kind is t for t in scalars):
        return True
    if kind is tuple:
        return all(_is_plain(v, depth + 1, scalars) for v in value)
    return False


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")


def _scrub(value: Any) -> Any:
    if type(value) is str:
        return _ADDRESS.sub("0x...", value)
    if type(value) is tuple:
        return tuple(_scrub(v) for v in value)
    return value


class ServerConnection(FastConnection):
    """The server's end of a connection: only calls of exposed methods on the root get through.

    Stock RPyC answers many request kinds (getattr, dir, setattr, call of any netref, hash...).
    Here a client may fetch the root, call ``exposed_*`` methods on it in one CALLATTR request,
    and release the root; ``getattr`` is refused so not even a bound method is handed out as a
    netref. ``inspect`` (RPyC builds the client's proxy class from it) lists exposed names only.
    A reference to a client object is refused as it is decoded, so the server never holds a
    netref and never calls back into the client (no ``__hash__``, ``__eq__``, ``startswith``).
    """

    def _dispatch(self, data: Any) -> None:
        """Only requests are decoded (a client never sends replies or exceptions: RPyC's
        exception loader would make a class for every name it is sent, kept for good), and
        only plain values in them (:func:`void_vfx.protocol.wire.load_request`). Anything else
        closes the connection with one line in the log."""
        self._recvlock.release()
        if not data or data[0] != consts.MSG_REQUEST:
            kind = data[0] if data else None
            self._hang_up(f"message kind {kind!r} refused: a client sends requests only")
        try:
            seq, args = load_request(data, 1)
        except (ValueError, TypeError, struct.error, RecursionError) as ex:
            self._hang_up(f"malformed request: {ex}")
        if type(seq) is not int:
            self._hang_up("malformed request: no sequence number")
        self._dispatch_request(seq, args)

    def _hang_up(self, why: str) -> None:
        """Close the socket now (RPyC's polite close would wait for the peer's answer to its
        CLOSE request, up to the request timeout) and end the connection."""
        self._channel.close()
        raise EOFError(why)

    def _box_exc(self, typ: Any, val: Any, tb: Any) -> Any:
        """An error reply, with any memory address in its text blanked (``at 0x7f...``)."""
        return _scrub(super()._box_exc(typ, val, tb))

    def _refuse(self, *args: Any) -> Any:
        raise AttributeError("request refused: only calls of the exposed methods are allowed")

    def _unbox(self, package: Any) -> Any:
        if type(package) is not tuple or len(package) != 2:
            raise TypeError("malformed request")
        label, value = package
        if label == consts.LABEL_REMOTE_REF:
            raise TypeError("client objects are not accepted: send plain values only")
        if label == consts.LABEL_LOCAL_REF:
            if not _is_plain(value):
                raise TypeError("malformed reference")
            obj = self._local_objects[value]
            if obj is not self._local_root:
                self._refuse()
            return obj
        return super()._unbox(package)

    def _call_exposed(self, obj: Any, name: Any, args: Any = (), kwargs: Any = ()) -> Any:
        if obj is not self._local_root or type(name) is not str:
            self._refuse()
        if type(args) is not tuple or type(kwargs) is not tuple or len(kwargs):
            self._refuse()
        if not _is_plain(args, 0, _PLAIN_ARGS):
            raise TypeError(f"{name}: arguments must be plain values")
        return obj._rpyc_getattr(name)(*args)

    def _inspect_root(self, id_pack: Any) -> tuple:
        if not _is_plain(id_pack) or self._local_objects[id_pack] is not self._local_root:
            self._refuse()
        return tuple(m for m in super()._handle_inspect(id_pack) if m[0].startswith("exposed_"))

    def _release_root(self, obj: Any, count: Any = 1) -> None:
        if obj is not self._local_root or type(count) is not int:
            self._refuse()
        super()._handle_del(obj, count)

    def _ping(self, data: Any) -> Any:
        if type(data) not in (str, bytes):
            self._refuse()
        return data

    @classmethod
    def _request_handlers(cls) -> dict:
        handlers = dict.fromkeys(super()._request_handlers(), cls._refuse)
        handlers.update(
            {
                consts.HANDLE_PING: cls._ping,
                consts.HANDLE_CLOSE: cls._handle_close,
                consts.HANDLE_GETROOT: cls._handle_getroot,
                consts.HANDLE_DEL: cls._release_root,
                consts.HANDLE_CALLATTR: cls._call_exposed,
                consts.HANDLE_INSPECT: cls._inspect_root,
                consts.HANDLE_REPR: lambda self, obj: "<void-vfx service>",
                consts.HANDLE_STR: lambda self, obj: "<void-vfx service>",
            }
        )
        return handlers
