"""void-vfx: VOID object and interaction removal for VFX pipelines.

The host-facing parts (:data:`HOST_MODULES`) load with the standard library and rpyc alone, so
Nuke's and Resolve's Pythons can import them from a folder on their path. Modules that need
numpy, OpenImageIO or OpenColorIO import them inside.
"""

__version__ = "0.1.0"

#: Every module a host's Python (Nuke's, Resolve's: 3.9, no numpy, OpenImageIO or OpenColorIO)
#: may import: each loads with the standard library and rpyc alone. The one list:
#: tests/hosts/test_host_imports.py imports them so, tests/architecture/test_import_graph.py checks
#: that none loads a module outside it and that ruff lints each for Python 3.9 (pyproject's per-file
#: ignores).
HOST_MODULES = (
    "void_vfx",
    "void_vfx.atomic",
    "void_vfx.errors",
    "void_vfx.framerate",
    "void_vfx.model_facts",
    "void_vfx.client",
    "void_vfx.client.files",
    "void_vfx.client.handshake",
    "void_vfx.client.progress",
    "void_vfx.client.session",
    "void_vfx.hosts",
    "void_vfx.hosts.nuke_install",
    "void_vfx.hosts.nuke_quadmask",
    "void_vfx.hosts.nuke_spec",
    "void_vfx.hosts.nuke_text",
    "void_vfx.hosts.nuke_versions",
    "void_vfx.hosts.resolve_app",
    "void_vfx.hosts.resolve_cli",
    "void_vfx.hosts.resolve_install",
    "void_vfx.hosts.resolve_layback",
    "void_vfx.hosts.resolve_remove",
    "void_vfx.hosts.resolve_render",
    "void_vfx.hosts.resolve_source",
    "void_vfx.hosts.resolve_ui",
    "void_vfx.job",
    "void_vfx.job.engine_params",
    "void_vfx.job.naming",
    "void_vfx.job.spec",
    "void_vfx.media",
    "void_vfx.media.colour_names",
    "void_vfx.media.exr_codecs",
    "void_vfx.media.sequences",
    "void_vfx.protocol",
    "void_vfx.protocol.paths",
    "void_vfx.protocol.wire",
    "void_vfx.render",
    "void_vfx.render.windows",
)
