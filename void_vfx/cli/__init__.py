"""The ``void-vfx`` command line: :mod:`.main` lists the commands, each module runs some."""
