"""Video in and out: lazy chunked decoding, H.264 MP4 output, resume, temporal follow."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import skimage.data

av = pytest.importorskip("av")

import napari_colorgan as ncg  # noqa: E402
from napari_colorgan.engine.film import colorize_frames  # noqa: E402
from napari_colorgan.engine.settings import Guidance, TileSettings  # noqa: E402
from napari_colorgan.io.atomic import partial_path  # noqa: E402
from napari_colorgan.io.scaling import to_dtype  # noqa: E402
from napari_colorgan.io.video import Mp4Sink, VideoFrames, open_video, video_info  # noqa: E402
from napari_colorgan.models.registry import as_model  # noqa: E402

FPS = Fraction(24000, 1001)


def _pan(image: np.ndarray, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A camera pan over a real image: the window moves 3 pixels right per frame."""
    h, w = size
    return [image[40 : 40 + h, 60 + 3 * i : 60 + 3 * i + w] for i in range(frames)]


def _write(path, frames, fmt):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=FPS, options={"g": "4"}
        )  # a key frame every 4
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format=fmt)))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def gray_film(tmp_path_factory):
    path = tmp_path_factory.mktemp("film") / "pan.mp4"
    return _write(path, _pan(skimage.data.camera(), 11, (96, 128)), "gray")


@pytest.fixture(scope="module")
def colour_film(tmp_path_factory):
    path = tmp_path_factory.mktemp("film") / "astronaut.mp4"
    frames = [np.ascontiguousarray(f) for f in _pan(skimage.data.astronaut(), 6, (96, 128))]
    return _write(path, frames, "rgb24")


def _decode_all(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_gray_video_opens_lazily_in_chunks(gray_film):
    frames, fps = open_video(gray_film, chunk_frames=4)
    assert frames.shape == (11, 96, 128) and frames.dtype == np.uint8
    assert frames.chunks[0] == (4, 4, 3) and fps == FPS
    truth = _pan(skimage.data.camera(), 11, (96, 128))
    assert np.abs(frames[6].compute().astype(int) - truth[6]).mean() < 4  # H.264 is lossy
    sequential = _decode_all(gray_film)[..., 1]
    # a chunk that starts between key frames seeks back and decodes forward: exact frames
    view = VideoFrames(str(gray_film))
    np.testing.assert_array_equal(view.decode(5, 9), view[5:9])
    assert np.abs(view.decode(5, 9).astype(int) - sequential[5:9]).max() <= 2


def test_colour_video_needs_from_rgb(colour_film):
    with pytest.raises(ValueError, match="colour video.*from-rgb"):
        open_video(colour_film)
    frames, _ = open_video(colour_film, from_rgb=True)
    assert frames.dtype == np.float32 and frames.shape == (6, 96, 128)
    gray = frames[0].compute()
    assert 0 <= gray.min() and gray.max() <= 1 and gray.std() > 0.05


def _colourise(src, dst, model="general", temporal=False, stop_after=None, resume=True):
    frames, fps = open_video(src, chunk_frames=4)
    net = as_model(model, "cpu")
    sink = Mp4Sink(dst, frames.shape, fps, {"model": model}, resume=resume, source=frames)
    steps = colorize_frames(
        frames, sink, net, (0.0, 255.0), TileSettings(), Guidance(temporal=temporal)
    )
    for unit, done, _ in steps:
        if stop_after is not None and unit == "frame" and done >= stop_after:
            steps.close()
            return sink
    return dst


def test_gray_mp4_to_colour_mp4_same_frames_size_rate(gray_film, tmp_path):
    out = _colourise(gray_film, tmp_path / "colour.mp4")
    info = video_info(out)
    assert info == {"frames": 11, "height": 96, "width": 128, "fps": FPS}
    rgb = _decode_all(out).astype(np.int16)
    assert (rgb.max(-1) - rgb.min(-1)).mean() > 3  # colour, not gray
    assert not partial_path(out).exists() and not list(tmp_path.glob(".*"))


def test_odd_size_is_kept(tmp_path):
    odd = _write(tmp_path / "odd.mp4", _pan(skimage.data.camera(), 3, (64, 96)), "gray")
    frames, _ = open_video(odd)
    cropped = frames[:, :63, :95]
    sink = Mp4Sink(tmp_path / "odd_out.mp4", cropped.shape, FPS)
    for _ in colorize_frames(
        cropped, sink, as_model("general", "cpu"), (0, 255), TileSettings(), Guidance()
    ):
        pass
    assert video_info(tmp_path / "odd_out.mp4")["width"] == 95
    assert video_info(tmp_path / "odd_out.mp4")["height"] == 63


def test_interrupted_run_resumes_at_its_next_frame(gray_film, tmp_path):
    whole = _colourise(gray_film, tmp_path / "whole.mp4")
    sink = _colourise(gray_film, tmp_path / "cut.mp4", stop_after=6)
    assert sink.done == 6 and not (tmp_path / "cut.mp4").exists()
    assert Mp4Sink(tmp_path / "cut.mp4", (11, 96, 128), FPS, {"model": "general"}).done == 6
    with pytest.raises(ValueError, match="other settings"):
        Mp4Sink(tmp_path / "cut.mp4", (11, 96, 128), FPS, {"model": "histology"})
    resumed = _colourise(gray_film, tmp_path / "cut.mp4")
    np.testing.assert_array_equal(_decode_all(resumed), _decode_all(whole))


def test_temporal_follows_the_previous_frame(tmp_path):
    """A still scene with sensor noise: temporal mode keeps each pixel's chroma steadier."""
    import torch

    from napari_colorgan.color import rgb_to_lab

    noise = np.random.default_rng(0)
    still = skimage.data.camera()[100:196, 150:278].astype(np.float32)
    frames = [
        np.clip(still + noise.normal(0, 4, still.shape), 0, 255).astype(np.uint8) for _ in range(6)
    ]
    film = _write(tmp_path / "still.mp4", frames, "gray")

    def chroma_change(path):
        rgb = torch.from_numpy(_decode_all(path).astype(np.float32) / 255)
        ab = rgb_to_lab(rgb, channel_axis=-1)[..., 1:]
        return float((ab[1:] - ab[:-1]).abs().mean())

    plain = chroma_change(_colourise(film, tmp_path / "plain.mp4", "guided"))
    follow = chroma_change(_colourise(film, tmp_path / "follow.mp4", "guided", True))
    assert follow < plain  # measured: 0.082 against 0.097
    # frame by frame, the same colours as the in-memory temporal mode on the whole stack
    staged = _colourise(film, tmp_path / "staged.mp4", "guided", True, stop_after=6).frames[:]
    gray = np.asarray(open_video(film)[0])
    whole = ncg.colorize(gray, "guided", normalize=(0, 255), temporal=True, device="cpu")
    assert np.abs(staged.astype(int) - to_dtype(whole, "uint8")).max() <= 1
    with pytest.raises(ValueError, match="guided model"):
        _colourise(film, tmp_path / "x.mp4", "general", True)


def test_cli_gray_mp4_to_colour_mp4(gray_film, tmp_path, capsys):
    from napari_colorgan.cli import main

    out = tmp_path / "colour.mp4"
    assert main(["colorize", str(gray_film), str(out), "--quiet", "--device", "cpu"]) == 0
    assert video_info(out) == {"frames": 11, "height": 96, "width": 128, "fps": FPS}
    assert "wrote" in capsys.readouterr().out


def test_cli_colour_film_from_rgb_temporal_takes_guided(colour_film, tmp_path, capsys):
    from napari_colorgan.cli import main

    out = tmp_path / "again.mp4"
    args = ["colorize", str(colour_film), str(out), "--quiet", "--from-rgb", "--temporal"]
    assert main(args) == 0  # no --model: guided, the model temporal needs
    assert video_info(out)["frames"] == 6
    assert main(["colorize", str(colour_film), str(tmp_path / "x.mp4"), "--quiet"]) == 1
    assert "--from-rgb" in capsys.readouterr().err


def test_rerun_from_another_clip_of_the_same_size_is_refused(gray_film, tmp_path):
    from napari_colorgan.io.ledger import OutputMismatchError

    other = _write(tmp_path / "other.mp4", _pan(skimage.data.coins(), 11, (96, 128)), "gray")
    _colourise(gray_film, tmp_path / "cut.mp4", stop_after=4)
    with pytest.raises(OutputMismatchError, match=r"cut.mp4 was made from another input"):
        _colourise(other, tmp_path / "cut.mp4")
    whole = _colourise(other, tmp_path / "whole.mp4")
    redone = _colourise(other, tmp_path / "cut.mp4", resume=False)
    np.testing.assert_array_equal(_decode_all(redone), _decode_all(whole))


def test_a_staging_store_killed_while_it_was_made_starts_again(gray_film, tmp_path):
    import zarr

    out = tmp_path / "out.mp4"
    staging = Path(f"{partial_path(out)}.zarr")
    attrs = {"model": "general", "shape": [11, 96, 128], "fps": str(FPS)}
    group = zarr.open_group(staging, mode="w")  # attributes and ledger, then the kill
    group.attrs["colorgan"] = attrs
    (staging / ".colorgan-frames").write_text("5 " + "0" * 32 + "\n")
    sink = Mp4Sink(out, (11, 96, 128), FPS, {"model": "general"})
    assert sink.done == 0 and sink.frames.shape == (11, 96, 128, 3)


def test_a_damaged_frame_ledger_redoes_what_follows_the_damage(gray_film, tmp_path):
    sink = _colourise(gray_film, tmp_path / "cut.mp4", stop_after=5)
    lines = sink.ledger.read_text().splitlines()
    sink.ledger.write_text("\n".join([*lines[:2], "three ab", *lines[3:]]) + "\n")
    frames, _ = open_video(gray_film, chunk_frames=4)
    assert Mp4Sink(sink.path, frames.shape, FPS, {"model": "general"}, source=frames).done == 2


def test_colorize_to_file_refuses_to_resume_a_film_from_another_clip(gray_film, tmp_path):
    from napari_colorgan.engine.pipeline import colorize_to_file, iter_colorize_to_file
    from napari_colorgan.io.ledger import OutputMismatchError

    other = _write(tmp_path / "other.mp4", _pan(skimage.data.coins(), 11, (96, 128)), "gray")
    out = tmp_path / "out.mp4"
    steps = iter_colorize_to_file(gray_film, out, "general")
    for unit, done, _ in steps:
        if unit == "frame" and done >= 3:
            break
    steps.close()
    with pytest.raises(OutputMismatchError, match="its frames 0..0 differ"):
        colorize_to_file(other, out, "general")


def test_a_film_replaced_while_it_is_read_is_named(gray_film, tmp_path):
    import shutil

    from napari_colorgan.io.errors import DamagedFileError

    path = shutil.copy(gray_film, tmp_path / "film.mp4")
    frames, _ = open_video(path, chunk_frames=4)
    frames[:4].compute()
    _write(path, _pan(skimage.data.coins(), 11, (96, 128)), "gray")  # another clip, same name
    with pytest.raises(DamagedFileError, match="changed while it was being read"):
        frames[4:8].compute()
