import subprocess
import sys

import pytest


def test_import_is_light():
    """napari discovers the plugin without loading torch or Qt."""
    code = (
        "import sys, napari_colorgan as n; "
        "assert 'colorize' in dir(n); "
        "heavy = [m for m in ('torch', 'qtpy', 'PyQt6', 'napari') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_attributes():
    import napari_colorgan as n

    assert callable(n.colorize) and callable(n.load_model) and callable(n.list_models)
    with pytest.raises(AttributeError, match="nonexistent"):
        _ = n.nonexistent
