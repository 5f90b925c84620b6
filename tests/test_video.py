from fractions import Fraction

import av
import numpy as np
import pytest

from posekit.core.errors import ConfigError, VideoError
from posekit.io.inputs import find_inputs
from posekit.io.video import Prefetcher, batched_frames, iter_frames, probe_video
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
