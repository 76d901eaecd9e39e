"""The job spec under the import path hosts use (``from void_vfx.jobspec import JobSpec``).

The spec itself lives in :mod:`void_vfx.job.spec`; this module only names it for hosts.
"""

from void_vfx.job.spec import (  # noqa: F401 - the hosts' import path
    ENGINES,
    FILE_FIELDS,
    SCHEMA,
    JobSpec,
    MaskSettings,
    MatteSource,
    OutputSettings,
    RoiSettings,
    SamplingSettings,
    WindowSettings,
)
