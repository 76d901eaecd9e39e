"""The server's bounds in one place: what ``void-vfx serve`` promises any peer, and the options
that raise them. The README's security section lists the same values."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

from void_vfx.media.image_io import max_image_pixels

from .auth import HANDSHAKE_TIMEOUT_S
from .listener import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_PEER


@dataclass(frozen=True)
class Limits:
    #: Connections open at once, in all, and from one address.
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_per_peer: int = DEFAULT_MAX_PER_PEER
    #: Seconds a peer has for the whole handshake (TLS and token proofs).
    handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S
    #: Pixels a frame may declare before anything is allocated (8K DCI full frame, or
    #: $VOID_VFX_MAX_IMAGE_PIXELS).
    max_image_pixels: int = field(default_factory=max_image_pixels)
    #: Jobs not yet finished (created, queued, running) the server holds at once.
    max_open_jobs: int = 200
    #: Bytes the data folder (uploads, work, results) may hold; 0: no quota beyond free space.
    max_data_bytes: int = 500 * 1024**3
    #: A job left "created" (never started) is removed after this many hours without a call;
    #: its half-sent uploads with it.
    abandoned_hours: float = 24.0
    #: An upload with no chunk for this many seconds has its writer (a thread and a
    #: descriptor) closed; the part file stays, so the client resumes from its size.
    upload_idle_s: float = 300.0


DEFAULTS = Limits()


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help=f"connections open at once (default {d.max_connections})",
    )
    p.add_argument(
        "--max-connections-per-peer",
        type=int,
        default=d.max_per_peer,
        help=f"connections from one address (default {d.max_per_peer})",
    )
    p.add_argument(
        "--handshake-timeout",
        type=float,
        default=d.handshake_timeout_s,
        help=f"seconds for a whole handshake (default {d.handshake_timeout_s:g})",
    )
    p.add_argument(
        "--max-image-pixels",
        type=int,
        default=None,
        help="pixels a frame may declare (default 35389440, 8192 x 4320, or "
        "$VOID_VFX_MAX_IMAGE_PIXELS)",
    )
    p.add_argument(
        "--max-open-jobs",
        type=int,
        default=d.max_open_jobs,
        help=f"jobs not yet finished held at once (default {d.max_open_jobs})",
    )
    p.add_argument(
        "--max-data-gb",
        type=float,
        default=d.max_data_bytes / 1024**3,
        help="size the data folder may reach (default 500; 0: no quota)",
    )
    p.add_argument(
        "--abandoned-hours",
        type=float,
        default=d.abandoned_hours,
        help="remove jobs never started after this many idle hours (default 24)",
    )
    p.add_argument(
        "--upload-idle-s",
        type=float,
        default=d.upload_idle_s,
        help="close an upload's writer after this many idle seconds (default 300)",
    )


def limits_from_args(args: argparse.Namespace) -> Limits:
    return Limits(
        max_connections=args.max_connections,
        max_per_peer=args.max_connections_per_peer,
        handshake_timeout_s=args.handshake_timeout,
        max_image_pixels=args.max_image_pixels or max_image_pixels(),
        max_open_jobs=args.max_open_jobs,
        max_data_bytes=int(args.max_data_gb * 1024**3),
        abandoned_hours=args.abandoned_hours,
        upload_idle_s=args.upload_idle_s,
    )


def describe(limits: Limits) -> str:
    return ", ".join(f"{f.name} {getattr(limits, f.name)}" for f in fields(limits))
