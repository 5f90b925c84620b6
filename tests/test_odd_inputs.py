"""Every bad input alone: odd file names, symbolic link loops, huge images; photos taken upright (EXIF)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.core.errors import VideoError
from posekit.io.images import EXIF_ORIENTATION_TAG, read_image
from posekit.io.inputs import probe_input
from posekit.io.shards import read_skeletons
from posekit.workflows.datasets.inputs import link_inputs, read_folder_tree
from tests.fake_expert import fake_plugin_installed

runner = CliRunner()
PHOTOS_FAKE = ["--photos", "--experts", "fake-detector", "--no-progress"]
"""Each image a clip, posed by the fake detector."""


@pytest.fixture
def fake_detector(tmp_path, monkeypatch):
    with fake_plugin_installed(tmp_path / "plugin", monkeypatch):
        yield


def test_a_name_that_is_not_utf8_and_a_symlink_loop_fail_alone_on_every_run(tmp_path, fake_detector):
    root = tmp_path / "in"
    root.mkdir()
    cv2.imwrite(str(root / "good.png"), np.zeros((40, 40, 3), np.uint8))
    os.link(root / "good.png", os.fsencode(root) + b"/caf\xe9.png")  # a Latin-1 name, as old archives hold
    os.symlink("loop", root / "loop")
    args = ["extract", str(root), "--out", str(tmp_path / "out"), *PHOTOS_FAKE]
    for _ in range(2):  # the rerun does not crash either
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert f"{root}/caf\\xe9.png: the file name is not valid UTF-8; rename it" in result.output
        assert f"{root}/loop: cannot be followed (Too many levels of symbolic links" in result.output
    entries = {e["clip_id"]: e for e in json.loads((tmp_path / "out" / "manifest.json").read_text())["entries"]}
    assert {k: e["status"] for k, e in entries.items()} == {
        "good.png": "done", "caf\\xe9.png": "failed", "loop": "failed"
    }  # fmt: skip
    assert [c.clip_id for c in read_skeletons(tmp_path / "out")] == ["good.png"]


def huge_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width x height`` RGB pixels, followed by a little compressed data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * (1 + 3 * width) * 8)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_a_huge_png_is_refused_from_its_header_before_any_decoding(tmp_path):
    png = huge_png_header(tmp_path / "huge.png", 30000, 30000)
    with pytest.raises(VideoError, match=r"huge\.png: 30000x30000 frames exceed the limit of 67108864 pixels"):
        probe_input(png, 30.0)
    with pytest.raises(VideoError, match="exceed"):
        read_image(png)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of a large test process
    # would report the parent's peak.
    script = "import sys\nfrom posekit.io.images import read_image\ntry:\n    read_image(sys.argv[1])\n"
    script += "except Exception:\n    pass\nprint(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    peak_kib = int(subprocess.run([sys.executable, "-c", script, str(png)], capture_output=True, check=True).stdout)
    assert peak_kib < 1 << 20, f"{peak_kib / 1024:.0f} MiB peak: the pixels were decoded"  # 2.7 GB if decoded


def exif_image(path: Path, pixels: np.ndarray, orientation: int) -> Path:
    exif = PIL.Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    PIL.Image.fromarray(pixels).save(path, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_the_upright_picture_every_viewer_shows(tmp_path, orientation):
    pixels = np.random.default_rng(orientation).integers(0, 255, (30, 50, 3), np.uint8)  # not square: turns show
    png = exif_image(tmp_path / "photo.png", pixels, orientation)
    with PIL.Image.open(png) as image:
        upright = np.asarray(PIL.ImageOps.exif_transpose(image).convert("RGB"))
    assert np.array_equal(read_image(png), upright)
    info = probe_input(png, 30.0)
    assert (info.height, info.width) == upright.shape[:2]


def test_a_jpeg_rotated_by_its_exif_is_read_upright(tmp_path):
    pixels = np.zeros((60, 100, 3), np.uint8)
    pixels[:, :20] = 255  # a white band on the stored left: on the upright top after a 90 degree turn
    jpeg = tmp_path / "phone.jpg"
    exif = PIL.Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = 6
    PIL.Image.fromarray(pixels).save(jpeg, exif=exif.tobytes(), quality=95)
    image = read_image(jpeg)
    assert image.shape == (100, 60, 3)
    assert image[:15].mean() > 200 and image[30:].mean() < 30


def test_build_dataset_links_a_clip_whose_name_fills_the_file_name_limit(tmp_path):
    videos = tmp_path / "videos" / "waving"
    videos.mkdir(parents=True)
    name = "v" * 245 + ".mp4"  # 249 bytes: the link's temporary name must not add to it
    (videos / name).write_bytes(b"")
    collection = read_folder_tree(tmp_path / "videos")
    links = link_inputs(collection.clips, tmp_path / "links")
    assert (links / "waving" / name).resolve() == (videos / name).resolve()


def test_max_pixels_refuses_larger_inputs_alone_from_their_header(tmp_path, fake_detector):
    root = tmp_path / "in"
    root.mkdir()
    cv2.imwrite(str(root / "small.png"), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(root / "large.png"), np.zeros((40, 50, 3), np.uint8))
    args = ["extract", str(root), "--out", str(tmp_path / "out"), *PHOTOS_FAKE]
    result = runner.invoke(app, [*args, "--max-pixels", "1000"])
    assert result.exit_code == 1, result.output
    assert f"{root}/large.png: 50x40 frames exceed the limit of 1000 pixels (--max-pixels)" in result.output
    assert [c.clip_id for c in read_skeletons(tmp_path / "out")] == ["small.png"]
    assert runner.invoke(app, [*args, "--retry-failed"]).exit_code == 0  # the default limit takes it


def test_the_manifest_records_the_exif_orientation_applied(tmp_path, fake_detector):
    root = tmp_path / "in"
    root.mkdir()
    exif_image(root / "phone.png", np.zeros((30, 50, 3), np.uint8), 6)
    cv2.imwrite(str(root / "plain.png"), np.zeros((30, 50, 3), np.uint8))
    args = ["extract", str(root), "--out", str(tmp_path / "out"), *PHOTOS_FAKE]
    assert runner.invoke(app, args).exit_code == 0
    entries = {e["clip_id"]: e for e in json.loads((tmp_path / "out" / "manifest.json").read_text())["entries"]}
    assert (entries["phone.png"]["exif_orientation"], entries["plain.png"]["exif_orientation"]) == (6, 1)
    sizes = {c.clip_id: (c.width, c.height) for c in read_skeletons(tmp_path / "out")}
    assert sizes == {"phone.png": (30, 50), "plain.png": (50, 30)}
