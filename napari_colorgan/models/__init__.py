"""Generator, discriminator and the weights registry.

Import the submodules directly (``models.generator``...); this package itself
stays free of torch so that listing models is instant. Imports go one way:
``contract`` (what the engine calls on a model) imports nothing of the package;
``generator`` implements it; ``registry`` loads generators from files and holds
``as_model``, the one entry from a name, a path or a model; ``domain`` reads a
loaded model's bottleneck through ``Generator.encode``.
"""
