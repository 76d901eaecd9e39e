"""The shared job panel (PySide2 or PySide6, through :mod:`.qt`) that Nuke, Resolve and the
``void-vfx panel`` command show. Importing this package imports no Qt."""
