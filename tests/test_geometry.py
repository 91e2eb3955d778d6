"""Slice, level, hint and result geometry as pure functions: 2-D to 4-D, pyramid levels."""

import numpy as np
import pytest

from napari_colorgan._geometry import (
    CURRENT_SLICE,
    LIVE,
    WHOLE_LAYER,
    Plane,
    choose_plane,
    describe,
    hints_on,
    placement,
    result_shape,
)

RED = [[1.0, 0.0, 0.0, 1.0]]


def test_2d_plain_layer_reads_everything():
    plane = choose_plane([(200, 240)], (0.5, 0.25), (10, 20), (60.0, 40.0), CURRENT_SLICE)
    assert plane == Plane(0, None, (1.0, 1.0)) and plane.key == ()
    assert placement(plane, (0.5, 0.25), (10, 20)) == {
        "scale": (0.5, 0.25),
        "translate": (10.0, 20.0),
    }
    # world (10 + 0.5 * 30, 20 + 0.25 * 8) is pixel (30, 8)
    assert hints_on(plane, (200, 240), (0.5, 0.25), (10, 20), [[25.0, 22.0]], RED) == [
        ((30, 8), (1.0, 0.0, 0.0))
    ]
    assert hints_on(plane, (200, 240), (0.5, 0.25), (10, 20), [[0.0, 0.0]], RED) == []
    assert describe(plane, CURRENT_SLICE, ("y", "x"), multiscale=False) == "whole"


def test_3d_current_slice_is_one_plane_at_its_own_z():
    shapes = [(4, 96, 128)]
    plane = choose_plane(shapes, (2.0, 0.5, 0.5), (1.0, 0, 0), (5.2, 0, 0), CURRENT_SLICE)
    assert plane.index == (2,) and plane.key == (2,)  # (5.2 - 1) / 2 = 2.1 -> plane 2
    placed = placement(plane, (2.0, 0.5, 0.5), (1.0, 0, 0))
    assert placed == {"scale": (2.0, 0.5, 0.5), "translate": (5.0, 0.0, 0.0)}
    assert result_shape(plane, (96, 128, 3)) == (1, 96, 128, 3)
    points = [[5.0, 10.0, 20.0], [1.0, 10.0, 20.0]]  # on plane 2, and on plane 0
    colours = [[0.1, 0.2, 0.3, 1.0], [0.9, 0.9, 0.9, 1.0]]
    assert hints_on(plane, shapes[0], (2.0, 0.5, 0.5), (1.0, 0, 0), points, colours) == [
        ((20, 40), (0.1, 0.2, 0.3))
    ]
    assert describe(plane, CURRENT_SLICE, ("z", "y", "x"), False) == "slice z=2"
    assert describe(plane, CURRENT_SLICE, ("0", "1", "2"), False) == "slice 2"


def test_a_point_beyond_the_stack_reads_its_last_plane():
    plane = choose_plane([(4, 8, 8)], (1, 1, 1), (0, 0, 0), (99.0, 0, 0), CURRENT_SLICE)
    assert plane.index == (3,)


@pytest.mark.parametrize("scope", [WHOLE_LAYER, LIVE])
def test_whole_layer_and_live_read_level_0_of_all_axes(scope):
    shapes = [(3, 5, 64, 64), (3, 5, 32, 32)]
    plane = choose_plane(shapes, (1, 2, 1, 1), (0, 0, 0, 0), (1, 3, 0, 0), scope, 1)
    assert plane == Plane(0, None, (1.0,) * 4)
    points = [[1, 4, 10, 11], [7, 4, 10, 11]]  # the second lies outside the first axis
    assert hints_on(plane, shapes[0], (1, 2, 1, 1), (0,) * 4, points, RED * 2) == [
        ((1, 2, 10, 11), (1.0, 0.0, 0.0))
    ]
    assert describe(plane, scope, "tzyx", multiscale=True) == (
        "live" if scope == LIVE else "whole"
    )


def test_4d_current_slice_indexes_both_leading_axes():
    shapes = [(3, 5, 64, 64)]
    point = (10.0, 2.9, 7.0, 7.0)
    plane = choose_plane(shapes, (5.0, 1.0, 1, 1), (0.0, -1.0, 0, 0), point, CURRENT_SLICE)
    assert plane.index == (2, 4)
    placed = placement(plane, (5.0, 1.0, 1, 1), (0.0, -1.0, 0, 0))
    assert placed["translate"] == (10.0, 3.0, 0.0, 0.0)
    assert result_shape(plane, (64, 64, 3)) == (1, 1, 64, 64, 3)
    assert describe(plane, CURRENT_SLICE, ("t", "z", "y", "x"), False) == "slice t=2, z=4"


def test_2d_multiscale_current_slice_uses_the_displayed_level():
    shapes = [(512, 512), (256, 256), (128, 128)]
    at_1 = choose_plane(shapes, (2, 2), (4, 6), (0, 0), CURRENT_SLICE, displayed_level=1)
    assert at_1 == Plane(1, None, (2.0, 2.0))
    assert placement(at_1, (2, 2), (4, 6)) == {"scale": (4.0, 4.0), "translate": (4.0, 6.0)}
    # world (4 + 2 * 100, 6 + 2 * 60) is level-0 pixel (100, 60), level-1 pixel (50, 30)
    assert hints_on(at_1, shapes[1], (2, 2), (4, 6), [[204.0, 126.0]], RED) == [
        ((50, 30), (1.0, 0.0, 0.0))
    ]
    assert describe(at_1, CURRENT_SLICE, ("y", "x"), multiscale=True) == "level 1 preview"
    at_0 = choose_plane(shapes, (2, 2), (4, 6), (0, 0), CURRENT_SLICE, displayed_level=0)
    assert at_0 == Plane(0, None, (1.0, 1.0))
    assert hints_on(at_0, shapes[0], (2, 2), (4, 6), [[204.0, 126.0]], RED)[0][0] == (100, 60)


def test_3d_multiscale_slice_at_a_coarse_level():
    """z downsampled too: the plane index, hints and placement are the level's."""
    shapes = [(8, 64, 64), (4, 32, 32)]
    scale, translate = (1.0, 0.5, 0.5), (0.0, 0.0, 0.0)
    plane = choose_plane(shapes, scale, translate, (6.0, 0, 0), CURRENT_SLICE, 1)
    assert plane == Plane(1, (3,), (2.0, 2.0, 2.0))
    assert placement(plane, scale, translate) == {
        "scale": (2.0, 1.0, 1.0),
        "translate": (6.0, 0.0, 0.0),
    }
    points = [[6.0, 10.0, 4.0], [2.0, 10.0, 4.0]]  # level-1 plane 3, then plane 1
    assert hints_on(plane, shapes[1], scale, translate, points, RED * 2) == [
        ((10, 4), (1.0, 0.0, 0.0))
    ]
    assert describe(plane, CURRENT_SLICE, ("z", "y", "x"), True) == "slice z=3, level 1"


def test_a_level_out_of_range_is_clamped_and_a_bad_scope_named():
    plane = choose_plane([(64, 64), (32, 32)], (1, 1), (0, 0), (0, 0), CURRENT_SLICE, 5)
    assert plane.level == 1
    with pytest.raises(ValueError, match="scope must be one of"):
        choose_plane([(64, 64)], (1, 1), (0, 0), (0, 0), "everything")


def test_hint_pixels_match_napari_world_to_data():
    """The same mapping napari's own Image layer uses, on a 3-D stack."""
    napari = pytest.importorskip("napari")
    data = np.zeros((6, 40, 50), np.uint16)
    scale, translate = (3.0, 0.5, 0.25), (-2.0, 7.0, 1.5)
    layer = napari.layers.Image(data, scale=scale, translate=translate)
    rng = np.random.default_rng(0)
    for world in rng.uniform((-2, 7, 1.5), (16, 27, 14), size=(20, 3)):
        pixel = np.round(layer.world_to_data(world)).astype(int)
        plane = choose_plane([data.shape], scale, translate, world, CURRENT_SLICE)
        found = hints_on(plane, data.shape, scale, translate, [world], RED)
        inside = all(0 <= v < n for v, n in zip(pixel, data.shape))
        assert found == ([(tuple(pixel[1:]), (1.0, 0.0, 0.0))] if inside else [])
