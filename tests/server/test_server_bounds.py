"""Bounds on what a file or a client can make the server do: image headers that declare huge
sizes, header text that is not UTF-8, FIFOs where files should be, names with newlines, and
what replies and logs give away."""

from __future__ import annotations

import logging
import os
import resource
import struct
import time
import zlib
from pathlib import Path

import pytest
from _server_fakes import private_config, start_server  # noqa: F401

from void_vfx.client import connect
from void_vfx.errors import ImageIOError, ServerError
from void_vfx.media.image_io import read_header, read_image


def _exr(path: Path, w: int = 64, h: int = 48, **attrs) -> bytes:
    import OpenImageIO as oiio

    spec = oiio.ImageSpec(w, h, 3, "half")
    spec.attribute("compression", "none")
    for k, v in attrs.items():
        spec.attribute(k, v)
    assert oiio.ImageBuf(spec).write(str(path))
    return path.read_bytes()


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose IHDR declares ``w`` x ``h`` (valid CRC), with a few bytes of pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(4096)))
        + chunk(b"IEND", b"")
    )


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_image_headers_that_declare_huge_sizes_are_refused_before_allocating(tmp_path):
    png = tmp_path / "bomb.png"
    _png_header_only(png, 12000, 12000)
    exr = tmp_path / "bomb.exr"
    data = _exr(tmp_path / "small.exr", 16, 8)
    for name in (b"dataWindow", b"displayWindow"):  # patched to 0..11999 in both directions
        at = data.index(name + b"\0box2i\0") + len(name) + 11
        data = data[:at] + struct.pack("<4i", 0, 0, 11999, 11999) + data[at + 16 :]
    exr.write_bytes(data)
    peak = _peak_rss()
    for bomb in (png, exr):
        assert bomb.stat().st_size < 10_000
        t0 = time.monotonic()
        with pytest.raises(ImageIOError, match=r"12000 x 12000 pixels, over the limit.*PIXELS="):
            read_image(str(bomb), "rgb")
        assert time.monotonic() - t0 < 1.0
    assert _peak_rss() - peak < 200 << 20  # a 12000 x 12000 float RGB frame is 1.7 GB


def test_the_pixel_bound_is_stated_and_can_be_raised(tmp_path, monkeypatch):
    small = tmp_path / "small.exr"
    _exr(small, 64, 48)
    monkeypatch.setenv("VOID_VFX_MAX_IMAGE_PIXELS", "3000")  # 64 x 48 = 3072
    with pytest.raises(ImageIOError, match="64 x 48 pixels, over the limit of 3000"):
        read_header(str(small))
    monkeypatch.setenv("VOID_VFX_MAX_IMAGE_PIXELS", "3072")
    assert read_image(str(small), "rgb").pixels.shape == (48, 64, 3)


def test_header_text_that_is_not_utf8_is_not_an_internal_error(tmp_path):
    data = _exr(tmp_path / "a.exr", myattr="AAAAAAAA")
    bad_attr = tmp_path / "attr.exr"
    bad_attr.write_bytes(data.replace(b"AAAAAAAA", b"\xff\xfe\xfdAAAAA"))
    header = read_header(str(bad_attr))  # the attribute is dropped, the frame reads
    assert "myattr" not in header.attributes and header.channel_names == ("R", "G", "B")
    assert read_image(str(bad_attr), "rgb").pixels.shape == (48, 64, 3)
    bad_channel = tmp_path / "chan.exr"
    bad_channel.write_bytes(data.replace(b"B\0", b"\xff\0", 1))
    with pytest.raises(ImageIOError, match="channel names are not UTF-8"):
        read_image(str(bad_channel), "rgb")


def test_probes_of_a_fifo_answer_at_once(tmp_path):
    srv = start_server(tmp_path)
    try:
        fifo = tmp_path / ".void-vfx-probe-0123456789abcdef"
        os.mkfifo(fifo)
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            t0 = time.monotonic()
            assert c.call("probe_file", str(fifo), 0, 0, "0" * 64) is False
            assert c.call("probe_path", str(fifo), "0" * 64) is False
            assert time.monotonic() - t0 < 2.0
    finally:
        srv.close()


def test_replies_carry_no_heap_address_and_bad_frames_no_traceback(tmp_path, caplog):
    srv = start_server(tmp_path)
    try:
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            id_pack = object.__getattribute__(c._conn.root, "____id_pack__")
            assert id_pack == ("void_vfx_server.service.VoidVfxService", 1, 1)
        caplog.set_level(logging.DEBUG)
        for _ in range(3):
            c = connect("127.0.0.1", srv.port, token=srv.token)
            ch = c._conn._channel
            ch.stream.sock.sendall(ch.FRAME_HEADER.pack(5, 0) + b"\x01\x1a\xff\xff\xff" + b"\n")
            ch.stream.sock.settimeout(5)
            while ch.stream.sock.recv(4096):
                pass
        time.sleep(0.2)
        assert not any(r.exc_info for r in caplog.records)
        assert "Traceback" not in caplog.text
    finally:
        srv.close()


def test_error_replies_blank_memory_addresses():
    from void_vfx_server.connection import _scrub

    reply = (("builtins", "TypeError"), ("<object at 0x7f3a2b1c0d90> refused",), (), "")
    assert _scrub(reply)[1] == ("<object at 0x...> refused",)


def test_a_name_with_a_newline_cannot_forge_a_log_line():
    from void_vfx_server.listener import OneLineFormatter

    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "cannot read %s", ("a\nFORGED",), None
    )
    assert OneLineFormatter("%(message)s").format(record) == "cannot read a\\nFORGED"


def test_a_job_id_from_the_server_never_names_a_path(tmp_path):
    from void_vfx.client import files as client_files
    from void_vfx.client.session import _job_id

    for bad in ("../../evil", "a/b", "", "x" * 65, 5):
        with pytest.raises(ServerError, match="malformed job id"):
            _job_id(bad)
    client_files.save_memo("../../escaped", {"a": 1})  # refused quietly: nothing written
    assert not list(tmp_path.rglob("escaped*"))
