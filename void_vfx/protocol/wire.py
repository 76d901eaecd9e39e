"""What the client and the server must agree on: port, API version, token handshake, fast stream.

Stdlib + rpyc only, because host Pythons (Nuke, Resolve) import the client, which imports this.

The token handshake runs on the raw socket before RPyC speaks, and the token never crosses the
wire: both ends prove they hold it (:func:`auth_proof`, HMAC-SHA256 over both ends' random
nonces). The client sends ``AUTH_MAGIC`` and its nonce; the server answers its own nonce and its
proof; only a client that found the server's proof right sends its own proof; the server
answers ``OK\\n`` or ``NO\\n``. A program that took the port learns nothing, and nothing of RPyC
is reachable without the client's proof.

RPyC's stock ``SocketStream`` slices a bytes object for every 64 kB it sends, which copies the
rest of the buffer each time (a 2 MiB chunk is copied ~30 times), and its ``Channel`` glues
header and data together and slices the newline off again: two more copies. ``FastSocketStream``
sends with one ``sendall`` and receives into one allocation, ``FastChannel`` writes header and
data separately, and compression is off (plates are noise-like floats: zlib costs time and
saves nothing). On the receiving side, ``FastConnection`` decodes big byte strings as
memoryviews of the received frame (brine would copy them twice more), so an upload chunk goes
from the socket to the file write with no copy in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import time

import rpyc
from rpyc.core import brine, consts
from rpyc.core.channel import Channel
from rpyc.core.protocol import Connection
from rpyc.core.stream import SocketStream

#: Bumped when an exposed method changes its arguments or results.
API_VERSION = 1
DEFAULT_PORT = 18870
#: Upload and download chunk size; 1-2 MiB keeps RPyC's per-call cost small against the copy.
CHUNK_SIZE = 2 * 1024 * 1024
#: Kernel socket buffers asked for (the OS may cap them, e.g. net.core.rmem_max).
SOCKET_BUFFER = 4 * 1024 * 1024
#: The largest chunk the server accepts or returns in one call.
MAX_CHUNK = 8 * 1024 * 1024
#: Job pictures for hosts (``preview``, ``review_sheet``): the longest side of a before/after
#: picture, and the most bytes a picture and a contact sheet may take.
PREVIEW_SIDE = 512
MAX_PREVIEW_BYTES = 1024 * 1024
MAX_SHEET_BYTES = 6 * 1024 * 1024
#: The largest request frame a server reads: a chunk and its call. A bigger frame (a 100 MB
#: "spec") closes the connection after its header, before any of it is read into memory.
MAX_REQUEST_BYTES = MAX_CHUNK + 1024 * 1024

TOKEN_HEX_LEN = 64
TOKEN_LINE_LEN = TOKEN_HEX_LEN + 1
HANDSHAKE_OK = b"OK\n"
HANDSHAKE_NO = b"NO\n"
#: The first bytes a client sends (the protocol's name and version), then its nonce.
AUTH_MAGIC = b"VOID-VFX-AUTH/2\n"
AUTH_NONCE_LEN = 32
AUTH_PROOF_LEN = 32  # HMAC-SHA256


def auth_proof(token: str, role: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """Proof that ``role`` (b"server" or b"client") holds ``token``, bound to both nonces (no
    replay, no reflection: each role signs its own label)."""
    message = b"void-vfx/2 " + role + b" " + client_nonce + server_nonce
    return hmac.new(token.encode("ascii"), message, hashlib.sha256).digest()


#: The probe files of path mode are named like this, and only such files are read by probe_path.
PROBE_PREFIX = ".void-vfx-probe-"
PROBE_RE = re.compile(r"^\.void-vfx-probe-[0-9a-f]{16,64}$")
#: A read-only path-mode proof hashes this much of the first plate frame.
PROBE_HEAD_BYTES = 64 * 1024

_IO_CHUNK = 4 * 1024 * 1024
_BIG = 65536


def recv_exact(sock: socket.socket, count: int, deadline: float) -> bytes:
    """``count`` bytes, or fewer if the peer closes; the whole read must end by ``deadline``
    (a monotonic time): a peer trickling a byte at a time does not get a fresh timeout each.
    Both halves of the handshake read with it."""
    data = b""
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(left)
        piece = sock.recv(count - len(data))
        if not piece:
            break
        data += piece
    return data


def file_sha256(
    path: str | os.PathLike, size: int | None = None, into: hashlib._Hash | None = None
) -> hashlib._Hash:
    """sha256 of a file's first ``size`` bytes (all of it when None), continuing ``into``.

    Both ends use it: the client to resume a hash at an upload or download offset, the server to
    check a finished file and to take over a ``.part`` file left by an earlier connection.
    """
    h = into if into is not None else hashlib.sha256()
    left = size
    with open(path, "rb") as fh:
        while left is None or left > 0:
            block = fh.read(_IO_CHUNK if left is None else min(_IO_CHUNK, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h


def protocol_config() -> dict:
    """RPyC settings for both ends: nothing but ``exposed_`` names, no pickle, quiet errors."""
    return {
        "allow_public_attrs": False,
        "allow_all_attrs": False,
        "allow_pickle": False,
        "allow_setattr": False,
        "allow_delattr": False,
        "import_custom_exceptions": False,
        "instantiate_custom_exceptions": False,
        "include_local_traceback": False,
        "sync_request_timeout": 300,
    }


def set_nodelay(sock: socket.socket) -> None:
    """Small RPyC replies must not wait for Nagle's timer (40 ms per call otherwise)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Room for a whole chunk in flight: the next chunk queues in the kernel while the
        # server is still writing the last one to disk.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    except OSError:
        pass  # not TCP (a unix socket, an SSL wrapper that refuses): nothing to tune


class FastSocketStream(SocketStream):
    """A SocketStream that neither copies on send nor assembles pieces on receive."""

    def read(self, count: int) -> bytes:
        sock = self.sock
        # One allocation: the kernel fills the bytes object (MSG_WAITALL) where it can; TLS
        # sockets refuse flags, and a signal can cut a read short, so finish piecewise then.
        flags = 0 if hasattr(sock, "context") else getattr(socket, "MSG_WAITALL", 0)
        pieces = []
        while count > 0:
            try:
                piece = sock.recv(count if flags else min(count, _IO_CHUNK), flags)
            except TimeoutError:
                continue
            except OSError as ex:
                self.close()
                raise EOFError(ex) from ex
            if not piece:
                self.close()
                raise EOFError("connection closed by peer")
            pieces.append(piece)
            count -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as ex:
            self.close()
            raise EOFError(ex) from ex


class FastChannel(Channel):
    """RPyC's framing (header, data, newline) without compression and without copies."""

    __slots__ = ("max_frame",)

    def recv(self) -> bytes:
        length, compressed = self.FRAME_HEADER.unpack(self.stream.read(self.FRAME_HEADER.size))
        limit = getattr(self, "max_frame", None)
        if limit is not None and length > limit:
            self.stream.close()
            raise EOFError(f"request of {length} bytes refused (at most {limit})")
        data = self.stream.read(length) if length else b""
        self.stream.read(len(self.FLUSHER))
        if compressed:  # a peer with stock settings may still compress
            import zlib

            if limit is None:
                return zlib.decompress(data)
            # Bounded before inflating: a 1 MiB frame of zeros would inflate to ~1 GiB.
            inflater = zlib.decompressobj()
            try:
                data = inflater.decompress(data, limit + 1)
            except zlib.error as ex:
                self.stream.close()
                raise EOFError(f"compressed request is damaged ({ex})") from None
            if len(data) > limit or inflater.unconsumed_tail:
                self.stream.close()
                raise EOFError(f"compressed request inflates past {limit} bytes; refused")
        return data

    def send(self, data: bytes | list[bytes]) -> None:
        """Send one frame; ``data`` may be a list of pieces (big ones are written as they are)."""
        pieces = data if isinstance(data, list) else [data]
        header = self.FRAME_HEADER.pack(sum(len(p) for p in pieces), 0)
        small = [header]
        for piece in pieces:
            if len(piece) < _BIG:
                small.append(piece)
                continue
            self.stream.write(b"".join(small))
            self.stream.write(piece)
            small = []
        small.append(self.FLUSHER)
        self.stream.write(b"".join(small))


def _dump_pieces(obj, out: list[bytes]) -> None:
    """brine's encoding of ``obj`` as a list of pieces, big bytes objects left uncopied.

    ``b"".join(out)`` equals ``brine.dump(obj)``; brine itself concatenates a bytes object with
    its tag and then joins the whole message, two copies of every chunk.
    """
    kind = type(obj)
    if kind is bytes and len(obj) >= _BIG:
        out.append(brine.TAG_STR_L4 + brine.I4.pack(len(obj)))
        out.append(obj)
    elif kind is tuple and any(type(v) in (bytes, tuple) for v in obj):
        n = len(obj)
        tags = {
            0: brine.TAG_EMPTY_TUPLE,
            1: brine.TAG_TUP1,
            2: brine.TAG_TUP2,
            3: brine.TAG_TUP3,
            4: brine.TAG_TUP4,
        }
        if n in tags:
            out.append(tags[n])
        elif n < 256:
            out.append(brine.TAG_TUP_L1 + brine.I1.pack(n))
        else:
            out.append(brine.TAG_TUP_L4 + brine.I4.pack(n))
        for item in obj:
            _dump_pieces(item, out)
    else:
        out.append(brine.dump(obj))


class FastConnection(Connection):
    """An RPyC connection that sends big bytes arguments and results without copying them."""

    def _send(self, msg, seq, args):
        if self._bind_threads:
            return super()._send(msg, seq, args)
        pieces = [brine.I1.pack(msg)]
        _dump_pieces((seq, args), pieces)
        data = pieces if any(len(p) >= _BIG for p in pieces) else b"".join(pieces)
        # As in RPyC: queue first, then let whichever thread holds the send lock drain the
        # queue (a netref's __del__ may send from inside a send).
        self._send_queue.append(data)
        while self._send_queue:
            if not self._sendlock.acquire(False):
                return
            try:
                if self._send_queue:
                    self._channel.send(self._send_queue.pop(0))
            finally:
                self._sendlock.release()

    def _dispatch(self, data):
        # RPyC slices the message type off (``data[1:]``), copying every chunk once more; read
        # the message in place instead. Only the plain request and reply paths are taken over.
        if self._bind_threads or len(data) < _BIG or not hasattr(self, "_dispatch_request"):
            return super()._dispatch(data)
        msg = data[0]
        if msg == consts.MSG_REQUEST:
            self._recvlock.release()
            seq, args = _load_from(data, 1)
            self._dispatch_request(seq, args)
        elif msg == consts.MSG_REPLY:
            seq, args = _load_from(data, 1)
            self._seq_request_callback(msg, seq, False, self._unbox(args))
            self._recvlock.release()
        else:
            return super()._dispatch(data)


class _FrameReader:
    """A read-only cursor over one received frame, in the shape brine's loaders expect."""

    __slots__ = ("_view", "_pos")

    def __init__(self, data: bytes, offset: int) -> None:
        self._view = memoryview(data)
        self._pos = offset

    def read(self, count: int) -> bytes:
        return self.read_view(count).tobytes()

    def read_view(self, count: int) -> memoryview:
        start = self._pos
        if count < 0 or start + count > len(self._view):
            raise ValueError("message cut short")
        self._pos += count
        return self._view[start : self._pos]

    def left(self) -> int:
        return len(self._view) - self._pos


_TUPLE_TAGS = {
    brine.TAG_EMPTY_TUPLE: 0,
    brine.TAG_TUP1: 1,
    brine.TAG_TUP2: 2,
    brine.TAG_TUP3: 3,
    brine.TAG_TUP4: 4,
}


def _load_views(reader: _FrameReader):
    """brine's decoding, except that big byte strings (in tuples) come back as memoryviews of
    the received frame instead of copies. Everything else is decoded by brine itself."""
    tag = reader.read(1)
    if tag == brine.TAG_STR_L4:
        (count,) = brine.I4.unpack(reader.read(4))
        return reader.read_view(count) if count >= _BIG else reader.read(count)
    count = _TUPLE_TAGS.get(tag)
    if count is None and tag == brine.TAG_TUP_L1:
        (count,) = brine.I1.unpack(reader.read(1))
    elif count is None and tag == brine.TAG_TUP_L4:
        (count,) = brine.I4.unpack(reader.read(4))
    if count is not None:
        return tuple(_load_views(reader) for _ in range(count))
    if tag in brine.IMM_INTS_LOADER:
        return brine.IMM_INTS_LOADER[tag]
    return brine._load_registry[tag](reader)


#: What a request may hold: None, booleans, small ints, floats, bytes, str and tuples. Refused
#: before decoding: frozensets (a set of colliding ints costs quadratic time under the GIL),
#: slices, complex numbers, Ellipsis and NotImplemented, and ints of more than 40 digits.
_SCALAR_TAGS = frozenset(
    (
        brine.TAG_NONE,
        brine.TAG_TRUE,
        brine.TAG_FALSE,
        brine.TAG_EMPTY_STR,
        brine.TAG_FLOAT,
        brine.TAG_STR1,
        brine.TAG_STR2,
        brine.TAG_STR3,
        brine.TAG_STR4,
        brine.TAG_STR_L1,
    )
)
_BYTES_TAGS = frozenset(
    (
        brine.TAG_EMPTY_STR,
        brine.TAG_STR1,
        brine.TAG_STR2,
        brine.TAG_STR3,
        brine.TAG_STR4,
        brine.TAG_STR_L1,
        brine.TAG_STR_L4,
    )
)
MAX_INT_DIGITS = 40
MAX_DEPTH = 16


def _load_strict(reader: _FrameReader, depth: int = 0):
    if depth > MAX_DEPTH:
        raise ValueError(f"values nested more than {MAX_DEPTH} deep")
    tag = reader.read(1)
    if tag in brine.IMM_INTS_LOADER:
        return brine.IMM_INTS_LOADER[tag]
    if tag == brine.TAG_STR_L4:
        (count,) = brine.I4.unpack(reader.read(4))
        return reader.read_view(count) if count >= _BIG else reader.read(count)
    if tag in _SCALAR_TAGS:
        return brine._load_registry[tag](reader)
    if tag == brine.TAG_UNICODE:
        inner = reader.read(1)
        if inner not in _BYTES_TAGS:
            raise ValueError("malformed text")
        reader._pos -= 1
        raw = _load_strict(reader, depth + 1)
        return bytes(raw).decode("utf-8")
    if tag == brine.TAG_INT_L1:
        (count,) = brine.I1.unpack(reader.read(1))
        if count > MAX_INT_DIGITS:
            raise ValueError(f"a number of more than {MAX_INT_DIGITS} digits")
        return int(reader.read(count))
    count = _TUPLE_TAGS.get(tag)
    if count is None and tag == brine.TAG_TUP_L1:
        (count,) = brine.I1.unpack(reader.read(1))
    elif count is None and tag == brine.TAG_TUP_L4:
        (count,) = brine.I4.unpack(reader.read(4))
    if count is None:
        raise ValueError(f"value type {tag.hex() or 'none'} refused (plain values only)")
    if count > reader.left():  # every item takes at least one byte
        raise ValueError("message cut short")
    return tuple(_load_strict(reader, depth + 1) for _ in range(count))


def load_request(data: bytes, offset: int):
    """A client's request, decoded by the server: like :func:`_load_from`, but only the plain
    types a request may hold, each bounded (see ``_SCALAR_TAGS``); ValueError otherwise."""
    return _load_strict(_FrameReader(data, offset))


def _load_from(data: bytes, offset: int):
    """brine.load(data[offset:]) without copying: no slice, big byte strings as memoryviews.

    An upload chunk thus reaches the file write as a view of the bytes the socket filled; the
    receiving side handles ``bytes | memoryview`` for chunk data.
    """
    return _load_views(_FrameReader(data, offset))


class ClientService(rpyc.VoidService):
    """What a client exposes to the server: nothing; it only picks the fast connection."""

    _protocol = FastConnection


def make_channel(sock: socket.socket, max_frame: int | None = None) -> Channel:
    """An uncompressed, copy-free channel over a fast stream; frames over ``max_frame`` bytes
    close it (the server's end passes :data:`MAX_REQUEST_BYTES`)."""
    channel = FastChannel(FastSocketStream(sock), compress=False)
    channel.max_frame = max_frame
    return channel


#: RPyC passes only immutable values by value (a dict would travel as a netref), so dicts cross
#: the wire as ``(MAP_TAG, ((key, value), ...))`` and lists as tuples.
MAP_TAG = "__void_vfx_map__"


def to_wire(value):
    """Dicts and lists -> nested tuples that RPyC copies by value."""
    if isinstance(value, dict):
        return (MAP_TAG, tuple((str(k), to_wire(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(to_wire(v) for v in value)
    return value


def from_wire(value):
    """The inverse of :func:`to_wire` (tuples stay tuples)."""
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == MAP_TAG and isinstance(value[1], tuple):
            return {k: from_wire(v) for k, v in value[1]}
        return tuple(from_wire(v) for v in value)
    return value
