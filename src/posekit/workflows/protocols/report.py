"""What the degradation protocol writes: its table as CSV, JSON and Markdown, and the C plots of each SST-A
method (thesis Fig. 3.7, 3.8), from a :class:`~posekit.workflows.protocols.degradation.ProtocolResult`."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from posekit.core.files import atomic_write_text
from posekit.core.jsonable import jsonable
from posekit.workflows.protocols.degradation import COLUMNS, ProtocolResult


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(result: ProtocolResult) -> str:
    """The rows and the gains as Markdown (the closing-note format)."""
    meta = result.meta
    ref = meta["reference"]
    s = meta["settings"]
    lines = [
        f"Degradation protocol on `{meta['video']}`: {meta['frames']} frames, experts {', '.join(s['experts'])}, "
        f"imgsz {s['imgsz'] or 'default'} (reference {s['reference_imgsz'] or 'default'}), "
        + ("SST-A discards no frame (Tab. 3.1)." if s["gamma"] is None else f"SST-A gamma {s['gamma']:g}."),
        f"Reference: {ref['person_frames']} person-frames in {ref['tracks']} tracks, "
        f"{_fmt(ref['joints_kept_pct'])} % of joints kept (>= {s['reference']['min_experts']} experts within "
        f"{s['reference']['agree']:g} body scales), reference jitter {_fmt(meta['reference_jitter'], 4)}; "
        f"PCKh scores the {_fmt(ref['pckh_scorable_pct'])} % of person-frames with an agreed head and shoulders, "
        f"PCK the {_fmt(ref['pck_scorable_pct'])} % with an agreed left shoulder and right hip.",
        "Scores are agreement with this clean reference, not accuracy against human labels.",
        "",
        "| degradation | method | PCKh@0.5 | PCK@0.2 | MPJPE/head | complete % | jitter | recall % | mean C |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.rows:
        lines.append(
            f"| {r['degradation']} | {r['method']} | {_fmt(r['pckh'])} | {_fmt(r['pck'])} | {_fmt(r['mpjpe'], 3)} | "
            f"{_fmt(r['completeness'])} | {_fmt(r['jitter'], 4)} | {_fmt(r['recall'])} | {_fmt(r['mean_c'], 3)} |"
        )
    if result.gains:
        methods = [k for k in result.gains[0] if k.startswith("sst-a")]
        lines += [
            "",
            "PCKh@0.5 gain over the best single expert (points):",
            "",
            "| degradation | best expert | its PCKh | " + " | ".join(methods) + " |",
            "|---|---|---:|" + "---:|" * len(methods),
        ]
        for g in result.gains:
            cells = " | ".join(f"{g[m]:+.1f}" if math.isfinite(g.get(m, float("nan"))) else "-" for m in methods)
            lines.append(f"| {g['degradation']} | {g['best_expert']} | {_fmt(g['best'])} | {cells} |")
    return "\n".join(lines) + "\n"


def write_outputs(result: ProtocolResult, out_dir: Path, plots: bool = True) -> list[Path]:
    """Write ``degradation_table.{csv,json,md}`` and, with ``plots``, the C plots of each SST-A method."""
    from posekit.eval.plots import confidence_plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "degradation_table.csv", out_dir / "degradation_table.json", out_dir / "degradation_table.md"]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=COLUMNS)
    writer.writeheader()
    for row in result.rows:
        writer.writerow({k: "" if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()})
    atomic_write_text(paths[0], table.getvalue())
    doc = {"rows": result.rows, "gains": result.gains, "meta": result.meta}
    atomic_write_text(paths[1], json.dumps(jsonable(doc), indent=2) + "\n")
    atomic_write_text(paths[2], markdown_table(result))
    if plots:
        gamma = result.meta["settings"]["plot_gamma"]
        for method, (conf, err) in result.pairs.items():
            if len(conf):
                slug = method.replace("sst-a ", "ssta-").replace("+", "-")
                paths += confidence_plots(conf, err, gamma, out_dir / "plots", prefix=f"{slug}_", title=method)
    return paths
