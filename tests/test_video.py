from fractions import Fraction

import av
import numpy as np
import pytest

from posekit.core.errors import ConfigError, VideoError
from posekit.io.inputs import find_inputs
from posekit.io.video import DecodeEnd, Prefetcher, batched_frames, iter_frames, probe_video, readable_frames
from tests.conftest import VTEST
from tests.videos import write_clip


def test_find_inputs_is_recursive_sorted_and_filters_by_extension(tmp_path, short_clip):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for rel in ("b/deep/z.MP4", "a.avi", "b/notes.txt", "b/.hidden.mp4"):
        (tmp_path / rel).write_bytes(b"x")
    videos, problems = find_inputs(tmp_path)
    assert [v.clip_id for v in videos] == ["a.avi", "b/deep/z.MP4"]
    assert problems == []
    (single,), _ = find_inputs(short_clip)
    assert single.clip_id == short_clip.name


def test_find_inputs_on_a_missing_path_says_what_to_give(tmp_path):
    with pytest.raises(ConfigError, match="input not found"):
        find_inputs(tmp_path / "nope")


def test_probe_reads_size_rate_and_frame_count(sample_clip):
    info = probe_video(sample_clip)
    assert (info.width, info.height, info.fps, info.declared_frames) == (768, 576, 10.0, 40)


def test_frames_stream_in_order_with_timestamps(sample_clip):
    frames = list(iter_frames(sample_clip, max_frames=5))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose([f.time for f in frames], [0.0, 0.1, 0.2, 0.3, 0.4])
    assert frames[0].image.shape == (576, 768, 3) and frames[0].image.dtype == np.uint8


def test_fps_option_samples_by_stream_time(sample_clip):
    frames = list(iter_frames(sample_clip, fps=2.5))
    assert [f.index for f in frames] == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]


def test_variable_frame_rate_keeps_true_timestamps(tmp_path, sample_frames):
    path = tmp_path / "vfr.mkv"
    times_ms = [0, 40, 80, 300, 320, 700]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = sample_frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for ms, image in zip(times_ms, sample_frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = list(iter_frames(path))
    np.testing.assert_allclose([f.time for f in frames], np.array(times_ms) / 1000, atol=1e-3)
    kept = list(iter_frames(path, fps=5))
    assert [round(f.time, 2) for f in kept] == [0.0, 0.3, 0.7]


def test_avi_frames_with_b_frames_get_increasing_times_from_the_frame_rate(tmp_path, sample_frames):
    path = tmp_path / "bframes.avi"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = sample_frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in [*sample_frames, *sample_frames[::-1]]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        raw = [f.time for f in container.decode(video=0)]
    assert np.any(np.diff(raw) < 0)  # FFmpeg's own times for this file are out of order
    frames = list(iter_frames(path))
    np.testing.assert_allclose([f.time for f in frames], np.arange(len(raw)) / 25)
    assert [f.index for f in iter_frames(path, fps=12.5)] == list(range(0, len(raw), 2))


@pytest.mark.parametrize(
    "content, match",
    [(b"", "not a readable video"), (b"this is a text file, not a video\n" * 20, "not a readable video")],
)
def test_files_that_are_not_videos_raise_a_video_error_naming_the_file(tmp_path, content, match):
    path = tmp_path / "fake.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=match) as err:
        probe_video(path)
    assert str(path) in str(err.value)


def test_prefetcher_overlaps_and_reraises_producer_errors():
    def produce():
        yield 1
        yield 2
        raise VideoError("broken at 3")

    got = []
    with pytest.raises(VideoError, match="broken at 3"):
        for item in Prefetcher(produce(), depth=1):
            got.append(item)
    assert got == [1, 2]


def test_batches_keep_every_frame_once():
    assert [len(b) for b in batched_frames(iter(range(10)), 4)] == [4, 4, 2]


def test_written_test_clip_round_trips(tmp_path, sample_frames):
    path = write_clip(tmp_path / "c.mp4", sample_frames[:3])
    assert len(list(iter_frames(path))) == 3


def write_with_display_matrix(path, stored: list[np.ndarray], degrees: int, hflip: bool = False):
    """H.264 of ``stored`` frames whose display matrix says: rotate ``degrees`` counter-clockwise, then mirror."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width = stored[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "8"}
        stream.set_display_rotation(degrees, hflip=hflip)
        for image in stored:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def upright_portrait(sample_frames) -> list[np.ndarray]:
    """``(576, 432, 3)`` portrait crops of real sample frames: what a phone user saw."""
    return [np.ascontiguousarray(f[:, 168:600]) for f in sample_frames[:4]]


@pytest.mark.parametrize(
    "degrees, hflip, stored_from_upright",
    [
        (-90, False, lambda u: np.rot90(u, 1)),  # a phone held upright: pixels stored sideways
        (90, False, lambda u: np.rot90(u, -1)),
        (180, False, lambda u: np.rot90(u, 2)),
        (0, True, lambda u: u[:, ::-1]),
    ],
)
def test_rotated_videos_decode_upright_at_their_upright_size(
    tmp_path, upright_portrait, degrees, hflip, stored_from_upright
):
    stored = [stored_from_upright(u) for u in upright_portrait]
    path = write_with_display_matrix(tmp_path / "phone.mp4", stored, degrees, hflip)
    info = probe_video(path)
    assert (info.width, info.height) == (432, 576)
    frames = list(iter_frames(path))
    assert len(frames) == len(upright_portrait)
    for frame, upright, raw in zip(frames, upright_portrait, stored):
        assert frame.image.shape == upright.shape and frame.image.flags.c_contiguous
        error = np.abs(frame.image.astype(int) - upright).mean()
        assert error < 2, f"decoded frame is {error:.1f} grey levels from the upright original"
        if raw.shape == upright.shape:
            assert np.abs(raw.astype(int) - upright).mean() > 10 * error


def test_rotation_agrees_with_opencv_autorotation(tmp_path, upright_portrait):
    import cv2

    path = write_with_display_matrix(tmp_path / "phone.mp4", [np.rot90(u, 1) for u in upright_portrait], -90)
    capture = cv2.VideoCapture(str(path))
    ok, reference = capture.read()
    capture.release()
    assert ok
    ours = next(iter_frames(path)).image
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(int) - reference[..., ::-1]).mean() < 2


@pytest.mark.slow
def test_extraction_of_a_rotated_video_writes_upright_sizes(tmp_path, upright_portrait):
    from posekit.estimators.registry import parse_experts
    from posekit.io.shards import read_skeletons
    from posekit.workflows.extraction.options import ExtractOptions
    from posekit.workflows.extraction.run import run_extraction

    path = write_with_display_matrix(tmp_path / "phone.mp4", [np.rot90(u, 1) for u in upright_portrait], -90)
    summary = run_extraction(
        path, tmp_path / "out", ExtractOptions(experts=tuple(parse_experts("yolo")), max_frames=2), progress=False
    )
    assert (summary.done, summary.failed) == (1, 0)
    (clip,) = read_skeletons(tmp_path / "out")
    assert (clip.width, clip.height) == (432, 576)
    for track in clip.tracks:
        inside = ~np.isnan(track.keypoints[..., 0])
        assert (track.keypoints[..., 0][inside] <= 432).all() and (track.keypoints[..., 1][inside] <= 576).all()


def test_unrotated_videos_decode_as_stored(sample_clip, sample_frames):
    frames = list(iter_frames(sample_clip, max_frames=3))
    for frame, stored in zip(frames, sample_frames):
        np.testing.assert_array_equal(frame.image, stored)


def test_a_video_cut_short_ends_its_frames_where_its_data_stops_and_its_packets_say_so(tmp_path):
    data = VTEST.read_bytes()
    cut = tmp_path / "vtest cut.avi"
    cut.write_bytes(data[: len(data) // 4])
    assert probe_video(cut).declared_frames == 795
    end = DecodeEnd()
    assert sum(1 for _ in iter_frames(cut, end=end)) == end.decoded == 197
    assert end.error == "" and not end.stopped_early
    assert readable_frames(cut) == 197
    assert readable_frames(VTEST) == 795
    end = DecodeEnd()
    assert len(list(iter_frames(cut, max_frames=5, end=end))) == 5 and end.stopped_early and end.decoded == 5


def test_packet_count_of_intact_videos_matches_their_decoded_frames(sample_clip):
    ntu = VTEST.parent / "ntu-S001C001P001R001A001_rgb.avi"
    kinetics = VTEST.parent / "kinetics-armwrestling.mp4"
    for path in (sample_clip, ntu, kinetics):
        end = DecodeEnd()
        for _ in iter_frames(path, end=end):
            pass
        assert readable_frames(path) == end.decoded == probe_video(path).declared_frames, path
