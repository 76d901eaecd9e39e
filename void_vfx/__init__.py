"""void-vfx: VOID object and interaction removal for VFX pipelines.

The host-facing parts (``jobspec``, ``naming``, ``windows``, ``client``, ``errors``) load with the
standard library and rpyc alone, so Nuke's and Resolve's Pythons can import them from a folder on
their path. Modules that need numpy, OpenImageIO or OpenColorIO import them inside.
"""

__version__ = "0.1.0"
