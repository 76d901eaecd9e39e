"""A shot made into model windows and back: quadmask, crop, temporal windows, the engine interface,
preparation, the window store, assembly, and :class:`.job.RenderJob` that holds a job and runs
those stages for every driver (:func:`.process.process_shot`, the farm's tasks).

``windows`` loads with the standard library alone (conform and farm plan with it in host Pythons);
the other modules need numpy.
"""
