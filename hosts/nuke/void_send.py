"""``nuke -t void_send.py [--script shot.nk] --node VOIDRemove``: send a VOID Remove node from
command-line Nuke, wait, and exit with the job's status (0 done, 1 failed, 2 cancelled, 3 not run).
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(globals().get("__file__") or sys.argv[0]))
_repo = os.path.dirname(os.path.dirname(_here))
if _repo not in sys.path:
    sys.path.insert(0, _repo)

from void_vfx.hosts.nuke_batch import main  # noqa: E402 - after the path is set

sys.exit(main())
