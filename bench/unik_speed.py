"""UNIK training step: batched S-LSU heads against the per-head loop of the same equations.

The full thesis model (10 blocks, N = 3 heads, 60 classes, 2 persons) on a batch of 16 clips, in two
input shapes (rows): ``posetics-2d`` (C = 2, T = 150, V = 17, Posetics) and ``ntu-3d`` (C = 3,
T = 300, V = 25, NTU RGB+D padded to 300 frames). One model per row, two head modes
(``set_head_mode``; ``loop`` is the authors' formulation, one attention per head), so the weights
are the same; the logits and every parameter gradient of the two formulations are asserted equal
before timing. Then forward + backward (a training step without the optimiser update) is timed
alternately in each mode, and the ratio of the medians is printed (goal >= 1.5x), with training
and inference samples/s of the batched model; on a GPU also with and without AMP (bf16 autocast).
The rows side by side go to ``bench/results/unik_speed.json``.

Run: ``python bench/unik_speed.py [--rows posetics-2d,ntu-3d] [--batch 16] [--repeat 5] [--device auto]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as nnf

from posekit.core.device import DEVICE_FORMS, DeviceOptions
from posekit.unik.model import UNIK, count_parameters


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _autocast(device: torch.device, amp: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()


def train_step(model: UNIK, x: torch.Tensor, y: torch.Tensor, amp: bool = False) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    with _autocast(x.device, amp):
        loss = nnf.cross_entropy(model(x).float(), y)
    loss.backward()
    return loss


def check_same_numbers(model: UNIK, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Assert equal logits and gradients of both head modes in float64 (where only rounding can
    differ) on a copy of the model; return the largest relative logit and gradient differences
    ``|a - b| / |b|`` (L2 norms, per tensor) in float32 on the model itself. Biases followed by
    a BatchNorm have a zero gradient up to rounding, so norms are floored at 1e-9 (float64) or
    1e-3 (float32) of the largest gradient norm."""
    worst = []
    for dtype, rel_floor in ((torch.float64, 1e-9), (torch.float32, 1e-3)):
        m = copy.deepcopy(model).to(dtype) if dtype == torch.float64 else model
        results = {}
        for mode in ("batched", "loop"):
            m.set_head_mode(mode)
            m.zero_grad(set_to_none=True)
            logits = m(x.to(dtype))
            nnf.cross_entropy(logits, y).backward()
            results[mode] = [logits.detach().clone()] + [p.grad.detach().clone() for p in m.parameters()]
        floor = rel_floor * max(float(g.norm()) for g in results["loop"][1:])
        diffs = [float((a - b).norm()) / max(float(b.norm()), floor) for a, b in zip(*results.values())]
        if dtype == torch.float64:
            assert max(diffs) < 1e-6, f"batched and loop heads differ in float64: {max(diffs):.3g}"
        worst = [diffs[0], max(diffs[1:])]
        m.set_head_mode("batched")
    return worst[0], worst[1]


ROWS = {"posetics-2d": (2, 150, 17), "ntu-3d": (3, 300, 25)}
"""Input shape ``(C, T, V)`` of each row; ``M = 2`` persons."""
RESULTS = Path(__file__).parent / "results" / "unik_speed.json"


def bench_row(name: str, batch: int, repeat: int, device: torch.device) -> dict[str, float | str]:
    """Check and time one input shape; print its lines and return its numbers."""
    C, T, V = ROWS[name]
    torch.manual_seed(0)
    model = UNIK(num_classes=60, num_joints=V, in_channels=C).to(device).train()
    x = torch.randn(batch, C, T, V, 2, device=device)
    y = torch.randint(0, 60, (batch,), device=device)
    print(f"{name}: batch {batch}, C = {C}, T = {T}, V = {V}, M = 2; UNIK {count_parameters(model):,} parameters")
    logit_diff, grad_diff = check_same_numbers(model, x, y)
    print(
        f"  same numbers: logits and all {len(list(model.parameters()))} parameter gradients equal in float64 "
        f"(< 1e-6 relative); float32 max relative difference: logits {logit_diff:.1e}, gradients {grad_diff:.1e}"
    )
    times: dict[str, list[float]] = {"batched": [], "loop": []}
    for mode in ("batched", "loop"):
        model.set_head_mode(mode)
        _timed(lambda: train_step(model, x, y), device)
    for _ in range(repeat):
        for mode in ("batched", "loop"):
            model.set_head_mode(mode)
            times[mode].append(_timed(lambda: train_step(model, x, y), device))
    med = {mode: statistics.median(t) for mode, t in times.items()}
    for mode, t in times.items():
        print(f"  {mode:8s} forward+backward: median {med[mode] * 1e3:8.1f} ms, min {min(t) * 1e3:8.1f} ms "
              f"({batch / med[mode]:.1f} samples/s)")  # fmt: skip
    model.set_head_mode("batched").eval()
    with torch.no_grad():
        model(x)
        infer = statistics.median(_timed(lambda: model(x), device) for _ in range(repeat))
    row: dict[str, float | str] = {
        "row": name, "batched_ms": med["batched"] * 1e3, "loop_ms": med["loop"] * 1e3,
        "ratio": med["loop"] / med["batched"], "train_samples_per_s": batch / med["batched"],
        "inference_samples_per_s": batch / infer,
    }  # fmt: skip
    if device.type == "cuda":
        model.train()
        for amp in (False, True):
            train_step(model, x, y, amp)
            t = statistics.median(_timed(lambda a=amp: train_step(model, x, y, a), device) for _ in range(repeat))
            row[f"train_samples_per_s_{'amp' if amp else 'fp32'}"] = batch / t
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows of {', '.join(ROWS)}")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default=DeviceOptions.device, help=DEVICE_FORMS)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = parser.parse_args()
    device = torch.device(DeviceOptions(args.device).resolve())
    if args.threads:
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"{device} ({where}), torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    rows = [bench_row(name, args.batch, args.repeat, device) for name in args.rows.split(",")]
    print("\n| row | batched ms | loop (authors') ms | loop / batched | train samples/s | inference samples/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['row']} | {r['batched_ms']:.1f} | {r['loop_ms']:.1f} | {r['ratio']:.2f}x | "
              f"{r['train_samples_per_s']:.1f} | {r['inference_samples_per_s']:.1f} |")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    doc = {"device": f"{device} ({where})", "torch": torch.__version__, "batch": args.batch, "rows": rows}
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
