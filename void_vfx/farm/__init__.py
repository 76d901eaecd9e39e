"""Scale a shot out on the farm engines studios already run, not a scheduler of our own.

A shot becomes a three-step job: Prepare (check every frame and matte, write the window plan),
Infer (one task per temporal window, each on a GPU worker) and Assemble (paste-back, the final
EXRs in the next version folder). :mod:`.openjd` writes an Open Job Description bundle
(``jobtemplate-2023-09``, what ``openjd run`` and ``deadline bundle submit`` take), :mod:`.opencue`
builds the same job with pyoutline, :mod:`.memory` says how much GPU memory each memory mode needs
and :mod:`.submit` is the one call the CLI and the conform use. The worker commands that run the
tasks need the engines, so they live in the server package (``void_vfx_server.farm_worker``).
"""
