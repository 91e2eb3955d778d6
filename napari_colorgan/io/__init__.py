"""Files in and out: readers, sinks, atomic writes and intensity scaling.

The bottom of the package: nothing here imports the engine, the models or napari.
"""
