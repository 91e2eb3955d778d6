"""Real grayscale sample images (see README.md); shipped as ``napari_colorgan.sample_data``."""
