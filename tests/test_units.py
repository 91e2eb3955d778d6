"""Axis units of inputs, as OME-NGFF names, from ImageJ, OME-XML, TIFF tags and OME-Zarr."""

from pathlib import Path

import numpy as np
import tifffile

from napari_colorgan.io.units import input_units, ngff_unit, ome_symbol

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def test_unit_spellings():
    for text in ("µm", "um", "micron", "MICROMETER", "\\u00B5m"):
        assert ngff_unit(text) == "micrometer"
    assert ngff_unit("nm") == "nanometer" and ngff_unit("furlong") is None
    # every OME-NGFF name passes; symbols keep their case ("Mm" is not "mm")
    assert ngff_unit("parsec") == "parsec" and ngff_unit("kilometre") == "kilometer"
    assert ngff_unit("Mm") == "megameter" and ngff_unit("MM") == "millimeter"
    assert ngff_unit("ms") == "millisecond" and ome_symbol("millisecond") is None
    assert ome_symbol("picometer") == "pm" and ome_symbol("parsec") == "pc"
    assert ngff_unit("") is None and ngff_unit(None) is None
    assert ome_symbol("micrometer") == "µm" and ome_symbol(None) is None


def test_imagej_stack_with_spacing():
    assert input_units(SAMPLES / "nuclei3d.tif") == ("micrometer",) * 3


def test_ome_tiff_units_default_to_micrometer(tmp_path):
    stack = tifffile.imread(SAMPLES / "nuclei3d.tif")[:4]
    sizes = {"PhysicalSizeX": 0.26, "PhysicalSizeY": 0.26, "PhysicalSizeZ": 0.29}
    tifffile.imwrite(tmp_path / "a.ome.tif", stack, metadata={"axes": "ZYX", **sizes})
    assert input_units(tmp_path / "a.ome.tif") == ("micrometer",) * 3
    nm = {**sizes, "PhysicalSizeXUnit": "nm", "PhysicalSizeZUnit": "nm"}
    tifffile.imwrite(tmp_path / "b.ome.tif", stack, metadata={"axes": "ZYX", **nm})
    assert input_units(tmp_path / "b.ome.tif") == ("nanometer",) * 3


def test_resolution_tags_and_files_without_units(tmp_path):
    plane = np.zeros((32, 32), np.uint8)
    tifffile.imwrite(tmp_path / "cm.tif", plane, resolution=(1000, 1000), resolutionunit=3)
    assert input_units(tmp_path / "cm.tif") == ("centimeter", "centimeter")
    tifffile.imwrite(tmp_path / "none.tif", plane)
    assert input_units(tmp_path / "none.tif") is None
    assert input_units(SAMPLES / "moon.png") is None
