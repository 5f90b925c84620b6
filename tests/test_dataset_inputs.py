"""Labelled inputs, label maps and caption templates (posekit.workflows.datasets.inputs / labels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posekit.core.errors import ConfigError
from posekit.workflows.datasets.inputs import read_collection, read_folder_tree, read_kinetics_csv, read_list_file
from posekit.workflows.datasets.label_maps import kinetics400_posetics
from posekit.workflows.datasets.labels import ClassMap, load_captions, load_class_map, template_text


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_kinetics_csv_finds_clips_by_pattern_anywhere_and_reports_absent_ones(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    _touch(videos / "train" / "abseiling" / "abc_000010_000020.mp4")
    _touch(videos / "xyz_000001_000011.mkv")
    csv = tmp_path / "k.csv"
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,abc,10,20,train\n"
        "making a cake,xyz,1,11,validate\n"
        "jogging,gone,5,15,train\n"
        ",nolabel,1,2,train\n"
    )
    col = read_kinetics_csv(csv, videos)
    assert col.format == "kinetics-csv"
    by_label = {c.label: c for c in col.clips}
    assert by_label["abseiling"].clip_id == "train/abseiling/abc_000010_000020.mp4"
    assert by_label["abseiling"].split == "train" and "abc" in by_label["abseiling"].aliases
    assert by_label["making a cake"].split == "val" and by_label["making a cake"].path is not None
    assert by_label["jogging"].path is None and by_label["jogging"].clip_id == "gone_000005_000015"
    assert [reason for _, reason in col.problems] == ["no label"]
    custom = read_kinetics_csv(csv, videos, pattern="train/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4")
    assert [c.path is not None for c in custom.clips] == [True, True, False]  # a stem match is a fallback


def test_csv_with_missing_columns_or_unknown_pattern_field_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("label,youtube_id\nx,y\n")
    with pytest.raises(ConfigError, match=r"missing column.*time_start, time_end"):
        read_kinetics_csv(csv, None)
    csv.write_text("label,youtube_id,time_start,time_end\nx,y,1,2\n")
    with pytest.raises(ConfigError, match="camera"):
        read_kinetics_csv(csv, None, pattern="{camera}_{youtube_id}")
    with pytest.raises(ConfigError, match="not found"):
        read_collection(tmp_path / "nope.csv", None)


def test_folder_per_class_with_and_without_split_level(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "clap" / "1.mp4")
    _touch(tmp_path / "a" / "wave" / "2.avi")
    _touch(tmp_path / "a" / "loose.mp4")
    col = read_folder_tree(tmp_path / "a")
    assert [(c.clip_id, c.label, c.split) for c in col.clips] == [
        ("clap/1.mp4", "clap", None),
        ("wave/2.avi", "wave", None),
    ]
    assert col.problems == [("loose.mp4", "not inside a class folder")]
    _touch(tmp_path / "b" / "train" / "clap" / "1.mp4")
    _touch(tmp_path / "b" / "validate" / "clap" / "2.mp4")
    col = read_collection(None, tmp_path / "b")
    assert [(c.label, c.split) for c in col.clips] == [("clap", "train"), ("clap", "val")]


def test_list_file_with_tabs_or_spaces_and_relative_paths(tmp_path: Path) -> None:
    _touch(tmp_path / "v" / "one clip.mp4")
    _touch(tmp_path / "v" / "two.mp4")
    lst = tmp_path / "v" / "list.txt"
    lst.write_text(
        "# comment\none clip.mp4\tmaking a cake\tval\ntwo.mp4 playing guitar\nmissing.mp4 jogging\nbadline\n"
    )
    col = read_list_file(lst)
    assert [(c.clip_id, c.label, c.split) for c in col.clips[:2]] == [
        ("one clip.mp4", "making a cake", "val"),
        ("two.mp4", "playing guitar", None),
    ]
    assert col.clips[2].path is None
    assert len(col.problems) == 1 and "expected" in col.problems[0][1]


def test_default_kinetics_map_names_only_real_kinetics400_classes() -> None:
    weights = pytest.importorskip("torchvision.models.video").R3D_18_Weights
    k400 = set(weights.KINETICS400_V1.meta["categories"])
    assert len(k400) == 400
    mapping = kinetics400_posetics.MAPPING
    assert set(mapping) <= k400, sorted(set(mapping) - k400)
    assert set(kinetics400_posetics.REASONS) == set(kinetics400_posetics.GROUPS)
    targets = {mapping.get(c, c) for c in k400}
    assert len(targets) == 342
    cmap = load_class_map("auto", "kinetics400-posetics")
    assert {cmap.apply(c) for c in ("making a cake", "making pizza", "making sushi")} == {"making food"}
    assert {cmap.apply(c) for c in ("washing feet", "washing hair")} == {"washing feet", "washing hair"}


def test_user_label_maps_json_csv_and_unknown_targets(tmp_path: Path) -> None:
    js = tmp_path / "map.json"
    js.write_text(json.dumps({"_doc": "mine", "classes": ["food", "run"], "map": {"cake": "food", "jog": "run"}}))
    cmap = load_class_map(js)
    assert (cmap.apply("cake"), cmap.apply("jog"), cmap.apply("swim")) == ("food", "run", None)
    assert cmap.doc == "mine" and cmap.merged(["cake", "jog"]) == {"food": ["cake"], "run": ["jog"]}
    js.write_text(json.dumps({"classes": ["food"], "map": {"cake": "fod"}}))
    with pytest.raises(ConfigError, match=r"targets \['fod'\] are not in its classes"):
        load_class_map(js)
    csv = tmp_path / "map.csv"
    csv.write_text("label,class\ncake,food\nnoise,\n")
    cmap = load_class_map(csv)
    assert (cmap.apply("cake"), cmap.apply("noise"), cmap.apply("other")) == ("food", None, "other")
    assert load_class_map("none").apply("making a cake") == "making a cake"
    assert load_class_map("auto", None).name == "identity"
    with pytest.raises(ConfigError, match="bundled"):
        load_class_map(tmp_path / "absent.json")
    assert ClassMap("x", {"a": "b"}).apply("a") == "b"


def test_templates_and_captions_files(tmp_path: Path) -> None:
    assert template_text("making a cake", "c1") in {
        "a person is making a cake.",
        "someone is making a cake.",
        "a video of a person making a cake.",
        "a clip of people making a cake.",
    }
    assert template_text("tai chi", "c1").endswith("doing tai chi.")
    assert "(" not in template_text("skiing (not slalom or crosscountry)", "c2")
    assert template_text("jogging", "c3", seed=1) == template_text("jogging", "c3", seed=1)
    csv = tmp_path / "c.csv"
    csv.write_text('youtube_id,caption\nabc,"a man climbs down a rock face"\nabc,second\n')
    assert load_captions(csv) == {"abc": "a man climbs down a rock face"}
    jl = tmp_path / "c.jsonl"
    jl.write_text('{"clip_id": "a.mp4", "text": "t1"}\n\n{"clip_id": "b.mp4", "text": "t2"}\n')
    assert load_captions(jl) == {"a.mp4": "t1", "b.mp4": "t2"}
    (tmp_path / "bad.csv").write_text("id,words\n1,2\n")
    with pytest.raises(ConfigError, match="text"):
        load_captions(tmp_path / "bad.csv")
