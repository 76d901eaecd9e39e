"""Engines turn one prepared window into cleaned frames. See :mod:`void_vfx.render.engine`."""
