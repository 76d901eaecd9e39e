"""Frames on disk: sequence patterns, OpenImageIO reads and writes, OpenColorIO colour, resampling.

Each module imports numpy, OpenImageIO or OpenColorIO itself; hosts never import this package.
"""
