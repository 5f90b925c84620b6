"""Label maps (thesis 3.5: object-centric classes merged onto their verb), captions and
text templates (PoseCap, thesis 6.3.1)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from posekit.core.errors import ConfigError
from posekit.core.hashing import stable_hash
from posekit.workflows.datasets.label_maps import BUNDLED


@dataclass(frozen=True)
class ClassMap:
    """Annotation label -> dataset class.

    Attributes:
        name: ``identity``, a bundled map's name, or the file it was read from.
        mapping: labels that change; a target of ``None`` drops the class.
        classes: when given, the only dataset classes allowed (a whitelist, in order).
        doc: what the map is and why.
    """

    name: str
    mapping: Mapping[str, str | None] = field(default_factory=dict)
    classes: tuple[str, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.classes is not None:
            unknown = sorted({t for t in self.mapping.values() if t is not None} - set(self.classes))
            if unknown:
                raise ConfigError(
                    f"label map {self.name}: targets {unknown[:5]} are not in its classes list; "
                    "add them to classes or fix the map"
                )

    def apply(self, label: str) -> str | None:
        """The dataset class of ``label``; None when the map drops it or it is not in ``classes``."""
        target = self.mapping.get(label, label)
        if target is None or (self.classes is not None and target not in self.classes):
            return None
        return target

    def merged(self, labels: Iterable[str]) -> dict[str, list[str]]:
        """Target -> sorted source labels, for the targets that merge or rename ``labels``."""
        groups: dict[str, set[str]] = {}
        for label in set(labels):
            target = self.apply(label)
            if target is not None:
                groups.setdefault(target, set()).add(label)
        return {t: sorted(s) for t, s in sorted(groups.items()) if s != {t}}

    def describe(self) -> dict:
        return {"name": self.name, "doc": self.doc, "classes": list(self.classes) if self.classes else None}


IDENTITY = ClassMap("identity", doc="labels kept as given")


def bundled_map(name: str) -> ClassMap:
    module = BUNDLED[name]
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    return ClassMap(name, dict(module.MAPPING), None, doc)


def load_class_map(spec: str | Path | None, default: str | None = None) -> ClassMap:
    """A label map from ``--label-map``: ``auto`` (``default``, or identity), ``none``, a bundled
    name (``kinetics400-posetics``) or a file.

    Files: JSON ``{"map": {label: class or null}, "classes": [...], "_doc": "..."}`` (``classes``
    optional; a flat ``{label: class}`` object works too) or CSV with a ``label,class`` header.
    """
    if spec is None or str(spec) == "none":
        return IDENTITY
    if str(spec) == "auto":
        return bundled_map(default) if default else IDENTITY
    if str(spec) in BUNDLED:
        return bundled_map(str(spec))
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"label map {spec}: no such file and not a bundled map (bundled: {', '.join(BUNDLED)}, auto, none)"
        )
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            if rows and not {"label", "class"} <= set(rows[0]):
                raise ConfigError(f"{path}: a label-map CSV needs the columns label,class")
            return ClassMap(str(path), {r["label"]: (r["class"] or None) for r in rows})
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read label map {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"label map {path} must be a JSON object")
    mapping = data.get("map", None)
    if mapping is None:
        mapping = {k: v for k, v in data.items() if not k.startswith("_") and k != "classes"}
    if not isinstance(mapping, dict) or not all(isinstance(v, (str, type(None))) for v in mapping.values()):
        raise ConfigError(f"label map {path}: 'map' must map label names to class names (or null to drop)")
    classes = data.get("classes")
    doc = str(data.get("_doc", data.get("doc", "")))
    return ClassMap(str(path), {str(k): v for k, v in mapping.items()}, tuple(classes) if classes else None, doc)


# ---------------------------------------------------------------------------------------------
# Captions (PoseCap)

GERUND_TEMPLATES = ("a person is {}.", "someone is {}.", "a video of a person {}.", "a clip of people {}.")
NOUN_TEMPLATES = ("a person doing {}.", "someone doing {}.", "a video of a person doing {}.", "people doing {}.")
_PARENTHESES = re.compile(r"\s*\([^)]*\)")


def template_text(label: str, clip_id: str, seed: int = 0) -> str:
    """A description of ``label`` from a fixed template, picked by a stable hash of the clip.

    Kinetics labels are mostly gerund phrases ("making a cake" -> "a person is making a
    cake."); others are nouns ("tai chi" -> "a person doing tai chi."). Parentheses are dropped.
    """
    phrase = _PARENTHESES.sub("", label).strip() or label
    gerund = phrase.split(" ", 1)[0].endswith("ing")
    templates = GERUND_TEMPLATES if gerund else NOUN_TEMPLATES
    return templates[stable_hash(f"{seed}:{clip_id}") % len(templates)].format(phrase)


def load_captions(path: Path) -> dict[str, str]:
    """Clip key -> description, from CSV (``text`` or ``caption`` column and a key column:
    ``clip_id``, ``youtube_id``, ``video`` or ``key``), JSON ``{key: text}`` or JSON lines
    ``{"clip_id": ..., "text": ...}``. A key repeated keeps its first text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read captions {path}: {exc}") from exc
    out: dict[str, str] = {}
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        cols = set(rows[0]) if rows else set()
        text_col = next((c for c in ("text", "caption") if c in cols), None)
        key_col = next((c for c in ("clip_id", "youtube_id", "video", "key") if c in cols), None)
        if text_col is None or key_col is None:
            raise ConfigError(f"{path}: a captions CSV needs the columns text (or caption) and clip_id (or youtube_id)")
        for r in rows:
            out.setdefault(r[key_col], r[text_col])
        return out
    try:
        if path.suffix.lower() == ".jsonl":
            for line in text.splitlines():
                if line.strip():
                    item = json.loads(line)
                    out.setdefault(str(item.get("clip_id", item.get("key"))), str(item["text"]))
            return out
        data = json.loads(text)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot read captions {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"captions {path} must be a JSON object {{clip key: text}}")
    return {str(k): str(v) for k, v in data.items()}
