"""void-vfx inference server: a resident model behind a restricted RPyC service.

Installed as ``void_vfx_server`` from the folder ``server/``.
"""
