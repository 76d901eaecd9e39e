"""Talk to a void-vfx server: what Nuke, Resolve, the CLI, conform and farm tasks import.

Standard library and rpyc only. ``connect()`` opens an authenticated :class:`Client`
(:mod:`.session`); :mod:`.handshake` reaches the server, :mod:`.files` names a job's files,
:mod:`.progress` shows a job's progress, :mod:`.local` runs a job on a private in-process server.
"""

from void_vfx.client.handshake import find_token
from void_vfx.client.progress import cancel_message
from void_vfx.client.session import FINISHED, Callback, Client, connect
from void_vfx.protocol.paths import config_dir, default_token_path

__all__ = [
    "FINISHED",
    "Callback",
    "Client",
    "cancel_message",
    "config_dir",
    "connect",
    "default_token_path",
    "find_token",
]
