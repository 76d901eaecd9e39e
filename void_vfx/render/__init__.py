"""A shot made into model windows and back: quadmask, crop, temporal windows, the engine interface,
preparation, the window store, assembly, and :func:`.process.process_shot` that runs them in order.

``windows`` loads with the standard library alone (conform and farm plan with it in host Pythons);
the other modules need numpy.
"""
