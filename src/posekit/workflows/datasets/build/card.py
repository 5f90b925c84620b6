"""The dataset card: the ``README.md`` of a built or imported dataset.

Its YAML header is the Hugging Face metadata (:func:`hf_metadata`) that makes ``datasets.load_dataset(OUT)``
give named splits and ``ClassLabel`` labels; the text says what the dataset is, how it was made (a build's
recipe or an import's source), per-class counts and the skeletons' quality, all from ``dataset.json``.
"""

from __future__ import annotations

import pyarrow as pa
import yaml

HF_SPLITS = {"val": "validation"}
"""posekit split folders whose Hugging Face split name differs (``datasets`` calls ``val/`` validation)."""


def _hf_type(kind: pa.DataType) -> dict:
    """The Hugging Face ``datasets`` feature (its YAML form, ``datasets`` >= 4) of an Arrow type."""
    if pa.types.is_struct(kind):
        return {"struct": [{"name": f.name, **_hf_type(f.type)} for f in kind]}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        inner = _hf_type(kind.value_type)
        if pa.types.is_struct(kind.value_type):
            entry: dict = {"list": inner["struct"]}
        else:
            entry = {"list": inner.get("dtype", inner)}
        if pa.types.is_fixed_size_list(kind):
            entry["length"] = kind.list_size
        return entry
    names = {"float": "float32", "double": "float64", "halffloat": "float16"}
    return {"dtype": names.get(str(kind), str(kind))}


def hf_metadata(doc: dict, schema: pa.Schema) -> dict:
    """The card's YAML header for the Hugging Face Hub and ``datasets.load_dataset(OUT)``: one config whose
    splits are the split folders (``val`` named ``validation``), every column's feature from the shards'
    Arrow schema and ``label`` a ``ClassLabel`` over ``doc["classes"]`` (index = position)."""
    features = []
    for column in schema:
        if column.name == "label":
            names = {str(i): c for i, c in enumerate(doc["classes"])}
            features.append({"name": "label", "dtype": {"class_label": {"names": names}}})
        else:
            features.append({"name": column.name, **_hf_type(column.type)})
    splits = [(HF_SPLITS.get(name, name), split) for name, split in doc["splits"].items()]
    return {
        "license": "other",
        "license_name": "source-videos",
        "license_details": "Skeletons derived from the source videos; their terms apply.",
        "task_categories": ["video-classification"],
        "tags": ["skeleton", "pose-estimation", "action-recognition", "posekit", doc["kind"]],
        "pretty_name": f"{doc['name']} ({doc['kind']} skeletons)",
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": hf, "path": f"{split['folder']}/skeletons-*.parquet"} for hf, split in splits],
            }
        ],
        "dataset_info": {"features": features},
    }


def _build_lines(doc: dict) -> tuple[str, list[str]]:
    split = doc["split"]
    split_detail = f" (val fraction {split['val_fraction']}, seed {split['seed']})" if split["val_fraction"] else ""
    intro = f"Built by posekit {doc['posekit_version']} (`posekit build-dataset {doc['kind']}`) following the " + (
        "Posetics recipe of thesis section 3.5" if doc["kind"] == "posetics" else "PoseCap recipe (thesis 6.3.1)"
    )
    made = [
        f"- Annotations: {doc['provenance']['annotations']['format']}.",
        f"- Filter: clips keep a pose in at least {doc['filters']['min_pose_frames']:.0%} of their frames.",
        f"- Label map: {doc['label_map']['name']}"
        + (f" ({len(doc['label_map']['merged'])} merged classes)" if doc["label_map"]["merged"] else "")
        + ".",
        f"- Split: {split['method']}{split_detail}.",
    ]
    return intro, made


def _import_lines(doc: dict) -> tuple[str, list[str]]:
    source = doc["import"]
    intro = f"Imported by posekit {doc['posekit_version']} (`{source['command']}`) from {source['format']}"
    made = [f"- Source: {source['source']}.", *[f"- {line}" for line in source["notes"]]]
    made.append(f"- Split: {doc['split']['method']} ({doc['split']['rule']}).")
    return intro, made


def _card_3d(doc: dict) -> str:
    """The card's line on 3D: how many person-frames carry ``keypoints_3d``, in what convention, or that none do."""
    stats = doc["stats"]
    with_3d, poses = stats.get("person_frames_3d", 0), stats["person_frames"]
    if not with_3d:
        return "3D: none; `keypoints_3d` is null in every track (`build-dataset --3d` extracts 3D joints)."
    return (
        f"3D: the tracks' `keypoints_3d` (n, V, 3) and `joint_scores_3d` hold 3D joints beside the 2D ones on "
        f"{with_3d} of {poses} person-frames ({poses - with_3d} without); coordinates: {doc['coordinates_3d']}."
    )


def dataset_card(doc: dict, schema: pa.Schema | None = None) -> str:
    """The dataset's README: the Hugging Face YAML header (:func:`hf_metadata`, given the shards' schema),
    what it is, how it was made, per-class counts, histograms."""
    splits = list(doc["splits"])
    header = ["---", yaml.safe_dump(hf_metadata(doc, schema), sort_keys=False).rstrip(), "---", ""] if schema else []
    intro, made = _import_lines(doc) if "import" in doc else _build_lines(doc)
    lines = [
        *header,
        f"# {doc['name']}: a {doc['kind']} skeleton dataset",
        "",
        intro + f": {doc['num_clips']} clips, {doc['num_classes']} classes, layout `{doc['layout']['name']}` "
        f"({len(doc['layout']['joints'])} joints), experts {', '.join(doc['experts'])}.",
        "",
        "## Layout",
        "",
        *[f"- `{s}/`: {doc['splits'][s]['clips']} clips in {len(doc['splits'][s]['shards'])} shard(s)" for s in splits],
        "- `dataset.json`: classes (index = position), counts, how it was made, dropped clips and files",
        "- `histograms.png`: joint scores, SST-A confidence C (when aggregated), joint completeness per person-frame",
        "",
        f"Shard columns: the skeletons schema of posekit (docs/shards.md) plus {', '.join(doc['columns'])}. "
        f"Coordinates: {doc['coordinates']}.",
        "",
        _card_3d(doc),
        "",
        "## How it was made",
        "",
        *made,
    ]
    drops = doc["dropped_counts"]
    dropped_detail = f" ({', '.join(f'{n} at {k}' for k, n in drops.items())})" if drops else ""
    lines.append(f"- Dropped: {sum(drops.values())}{dropped_detail}; each with its reason in dataset.json.")
    if doc.get("text"):
        lines.append(f"- Text: {doc['text']}.")
    if doc.get("label_map", {}).get("merged"):
        lines += ["", "## Merged classes", "", "| class | from |", "| --- | --- |"]
        lines += [f"| {t} | {', '.join(s)} |" for t, s in doc["label_map"]["merged"].items()]
    lines += ["", "## Clips per class", "", "| class | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    for c in doc["classes"]:
        lines.append(f"| {c} | " + " | ".join(str(doc["counts"][s].get(c, 0)) for s in splits) + " |")
    stats = doc["stats"]
    lines += [
        "",
        "## Skeleton quality",
        "",
        f"{stats['frames']} frames, {stats['tracks']} person tracks, {stats['person_frames']} person-frames; "
        f"missing joints {stats['missing_joint_rate']}, frames with a person {stats['frames_with_person_rate']}.",
        "",
        "![histograms](histograms.png)",
        "",
        "## Reading it",
        "",
        "```python",
        "from posekit.io.torch_dataset import SkeletonShardDataset   # random access, labels from dataset.json",
        "train = SkeletonShardDataset('train', window=150)",
        "from posekit.io.streaming import SkeletonShardStream        # shard-by-shard, for huge datasets",
        "import duckdb; duckdb.sql(\"SELECT label, count(*) FROM 'train/*.parquet' GROUP BY label\")",
        "import datasets; datasets.load_dataset('.')                  # named splits, label a ClassLabel",
        "```",
        "",
        "Train UNIK on it with `posekit train unik --data .`; export with `posekit export pyskl|ntu|coco`.",
        "",
    ]
    return "\n".join(lines)
