"""RPyC's private names that void-vfx overrides or calls still exist, with the arguments we use.

The copy-free wire layer (void_vfx/protocol/wire.py) and the server's locked-down connection
(server/connection.py) subclass RPyC's Connection, Channel and SocketStream and read brine's
tables. None of that is public API, so pyproject pins the RPyC major version that was tested
(``rpyc>=6,<7``), and this test names, for each private name, the file that would break when an
RPyC release renames it.
"""

from __future__ import annotations

import inspect
import re
import socket
from importlib.metadata import version
from pathlib import Path

import pytest
import rpyc
from rpyc.core import brine, consts
from rpyc.core.channel import Channel
from rpyc.core.protocol import Connection
from rpyc.core.service import Service
from rpyc.core.stream import SocketStream

REPO = Path(__file__).resolve().parents[2]
WIRE = "void_vfx/protocol/wire.py"
SERVER_CONN = "server/connection.py"
SERVICE = "server/service.py"
SERVER_MAIN = "server/main.py"

#: (where RPyC keeps it, name, the file of ours that relies on it)
CLASS_NAMES = [
    (Connection, "_send", WIRE),
    (Connection, "_dispatch", WIRE),
    (Connection, "_dispatch_request", WIRE),
    (Connection, "_seq_request_callback", WIRE),
    (Connection, "_unbox", f"{WIRE}, {SERVER_CONN}"),
    (Connection, "_request_handlers", SERVER_CONN),
    (Connection, "_handle_inspect", SERVER_CONN),
    (Connection, "_handle_del", SERVER_CONN),
    (Connection, "_handle_close", SERVER_CONN),
    (Connection, "_handle_getroot", SERVER_CONN),
    (Channel, "FRAME_HEADER", WIRE),
    (Channel, "FLUSHER", WIRE),
    (Service, "_protocol", f"{WIRE}, {SERVICE}"),
    (Service, "_connect", SERVER_MAIN),
]
#: Attributes a Connection sets on itself in __init__.
INSTANCE_NAMES = [
    ("_bind_threads", WIRE),
    ("_send_queue", WIRE),
    ("_sendlock", WIRE),
    ("_recvlock", WIRE),
    ("_channel", WIRE),
    ("_local_objects", SERVER_CONN),
    ("_local_root", SERVER_CONN),
]
_BRINE = "_load_registry IMM_INTS_LOADER dump I1 I4 TAG_STR_L4 TAG_EMPTY_TUPLE TAG_TUP1 TAG_TUP2"
_BRINE += " TAG_TUP3 TAG_TUP4 TAG_TUP_L1 TAG_TUP_L4"
_CONSTS = "MSG_REQUEST MSG_REPLY LABEL_REMOTE_REF LABEL_LOCAL_REF HANDLE_PING HANDLE_CLOSE"
_CONSTS += " HANDLE_GETROOT HANDLE_DEL HANDLE_CALLATTR HANDLE_INSPECT HANDLE_REPR HANDLE_STR"
MODULE_NAMES = [(brine, name, WIRE) for name in _BRINE.split()] + [
    (consts, name, WIRE if name.startswith("MSG_") else SERVER_CONN) for name in _CONSTS.split()
]
#: The parameters our overrides and calls pass, as RPyC names them.
SIGNATURES = [
    (Connection._send, ["self", "msg", "seq", "args"], WIRE),
    (Connection._dispatch, ["self", "data"], WIRE),
    (Connection._dispatch_request, ["self", "seq", "raw_args"], WIRE),
    (Connection._seq_request_callback, ["self", "msg", "seq", "is_exc", "obj"], WIRE),
    (Connection._unbox, ["self", "package"], f"{WIRE}, {SERVER_CONN}"),
    (Connection._handle_inspect, ["self", "id_pack"], SERVER_CONN),
    (Connection._handle_del, ["self", "obj", "count"], SERVER_CONN),
    (Channel.__init__, ["self", "stream", "compress"], WIRE),
    (SocketStream.__init__, ["self", "sock"], WIRE),
    (Service._connect, ["channel", "config"], SERVER_MAIN),
]


def _missing(owner, name: str, user: str) -> str:
    where = getattr(owner, "__name__", owner)
    return f"rpyc {version('rpyc')} has no {where}.{name}, which {user} relies on"


@pytest.mark.parametrize(
    ("owner", "name", "user"), CLASS_NAMES + MODULE_NAMES, ids=lambda v: getattr(v, "__name__", v)
)
def test_private_name_still_exists(owner, name: str, user: str) -> None:
    assert hasattr(owner, name), _missing(owner, name, user)


def test_connection_still_sets_the_attributes_we_use() -> None:
    left, right = socket.socketpair()
    conn = Connection(rpyc.VoidService(), Channel(SocketStream(left)), config={})
    try:
        gone = [_missing(Connection, n, user) for n, user in INSTANCE_NAMES if not hasattr(conn, n)]
    finally:
        right.close()  # the peer first: close() then ends at once instead of awaiting a reply
        conn.close()
    assert gone == []


@pytest.mark.parametrize(
    ("fn", "params", "user"), SIGNATURES, ids=lambda v: getattr(v, "__qualname__", None)
)
def test_private_method_takes_the_arguments_we_pass(fn, params: list[str], user: str) -> None:
    got = list(inspect.signature(fn).parameters)
    assert got == params, (
        f"rpyc {version('rpyc')}: {fn.__qualname__}{got} changed, {user} passes {params}"
    )


def test_the_service_hooks_are_the_ones_rpyc_calls() -> None:
    """server/service.py answers attribute access through _rpyc_getattr/_rpyc_setattr/
    _rpyc_delattr: RPyC's protocol must still look those names up."""
    source = inspect.getsource(Connection)
    for hook in ("_rpyc_getattr", "_rpyc_setattr", "_rpyc_delattr"):
        assert hook in source, (
            f"rpyc {version('rpyc')} no longer calls {hook}, which {SERVICE} defines"
        )


def test_installed_rpyc_is_in_the_pinned_range() -> None:
    """The tested major version is pinned: a new major may move any name above."""
    text = (REPO / "pyproject.toml").read_text()
    pin = re.search(r'"rpyc>=(\d+),<(\d+)"', text)
    assert pin, "pyproject.toml pins rpyc as rpyc>=N,<N+1 (the private names above are not API)"
    major = int(version("rpyc").split(".")[0])
    assert int(pin.group(1)) <= major < int(pin.group(2)), (version("rpyc"), pin.group(0))
