"""Batch conform: find the shots marked for removal in an edit (OTIO, EDL, FCP XML, FCPX, AAF,
ALE), resolve their media and mattes, run one job per shot, and write a conformed timeline.

OpenTimelineIO is imported only inside this package (and only in the modules that need it), so
the rest of the core and the hosts never load it. One module per job: :mod:`.reading` (adapters,
rates), :mod:`.shots` (markers and metadata), :mod:`.locate` (paths and ``--map``),
:mod:`.media` (source ranges to file frames, handles, mattes), :mod:`.movies` (movie sources to
EXR), :mod:`.plan` (job specs, windows, estimate, job keys), :mod:`.runner` (server or farm),
:mod:`.writer` (the conformed timeline), :mod:`.report` (the JSON report).
"""
