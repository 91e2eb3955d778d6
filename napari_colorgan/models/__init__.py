"""Generator, discriminator and the weights registry.

Import the submodules directly (``models.generator``...); this package itself
stays free of torch so that listing models is instant.
"""
