"""UNIK: unified spatio-temporal dependency learning for skeleton action recognition.

Thesis section 3.4 (eq. 3.8-3.12). Input ``(N, C, T, V, M)``: ``N`` clips, ``C`` coordinate
channels (2 for 2D), ``T`` frames, ``V`` joints, ``M`` persons. Output ``(N, num_classes)``
logits. Persons share the backbone; their pooled features are averaged.

One block (eq. 3.8) is ``T-LSU(S-LSU(f))`` plus a residual. The S-LSU (eq. 3.9) sums ``N``
heads ``E_i (f x (W_i + A_i))``; :class:`SLSU` computes all heads with one embedding
convolution, one batched attention product and one aggregation product
(``head_mode="batched"``, the default) or, as a reference, head by head in a Python loop
(``head_mode="loop"``) on the very same parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as nnf
from torch import nn

from posekit.unik.thesis import THESIS_CHANNELS, THESIS_DILATIONS, THESIS_STRIDES

HEAD_MODES = ("batched", "loop")


def dependency_bound(fan_in: int, a: float = math.sqrt(5)) -> float:
    """Bound of the uniform init of a dependency matrix, eq. 3.10: ``sqrt(6 / ((1 + a^2) V))``."""
    return math.sqrt(6.0 / ((1.0 + a * a) * fan_in))


class SLSU(nn.Module):
    """Spatial long-short dependency unit, eq. 3.9-3.11, with its BatchNorm and residual.

    Per head ``i``: ``A_i = softmax((E_theta_i f)^T (E_phi_i f) / (C_e tau T))`` over the input
    joints (eq. 3.11; the thesis leaves the scaling out, it keeps the softmax from
    saturating), ``M_i = W_i + A_i`` of shape ``(tau V, tau V)``, and the output
    ``sum_i E_i (f x M_i)``. With ``tau > 1`` the input is seen through a sliding window of
    ``tau`` frames (zero padded) and the ``tau`` window slots of the result are averaged back
    to ``V`` joints (the thesis does not say how it collapses them). Then
    ``relu(BN(y) + down(f))``, ``down`` a 1x1 convolution with BatchNorm when channels change.

    Shapes: ``(B, C_in, T, V) -> (B, C_out, T, V)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_joints: int,
        num_heads: int = 3,
        tau: int = 1,
        embed_ratio: int = 4,
    ) -> None:
        super().__init__()
        if tau < 1:
            raise ValueError(f"tau must be >= 1, got {tau}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_heads, self.tau, self.num_joints = num_heads, tau, num_joints
        self.embed_channels = max(out_channels // embed_ratio, 1)
        Ce, H, tV = self.embed_channels, num_heads, tau * num_joints
        self.dependency = nn.Parameter(torch.empty(H, tV, tV))
        self.theta_phi = nn.Conv2d(in_channels, 2 * H * Ce, 1)
        self.embed_weight = nn.Parameter(torch.empty(H, out_channels, in_channels))
        self.embed_bias = nn.Parameter(torch.empty(H, out_channels))
        self.bn = nn.BatchNorm2d(out_channels)
        self.down: nn.Module = (
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
            if in_channels != out_channels
            else nn.Identity()
        )
        self.head_mode = "batched"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``W_i`` by eq. 3.10 (fan-in ``tau V``); the unit's BatchNorm starts at scale 1e-6 so
        that each unit starts close to its residual path."""
        bound = dependency_bound(self.tau * self.num_joints)
        nn.init.uniform_(self.dependency, -bound, bound)
        nn.init.kaiming_normal_(self.theta_phi.weight, mode="fan_out")
        nn.init.zeros_(self.theta_phi.bias)
        nn.init.normal_(
            self.embed_weight, 0.0, math.sqrt(2.0 / (self.out_channels * self.in_channels * self.num_heads))
        )
        nn.init.zeros_(self.embed_bias)
        nn.init.constant_(self.bn.weight, 1e-6)
        nn.init.zeros_(self.bn.bias)

    def _window(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, V) -> (B, C, T, tau V)``: each frame with its ``tau`` neighbours."""
        if self.tau == 1:
            return x
        B, C, T, V = x.shape
        padded = nnf.pad(x, (0, 0, self.tau // 2, (self.tau - 1) // 2))
        return padded.unfold(2, self.tau, 1).transpose(3, 4).reshape(B, C, T, self.tau * V)

    def _collapse(self, z: torch.Tensor) -> torch.Tensor:
        """``(..., tau V) -> (..., V)`` by averaging the window slots."""
        if self.tau == 1:
            return z
        return z.unflatten(-1, (self.tau, self.num_joints)).mean(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self._window(x)
        y = self._heads_batched(f) if self.head_mode == "batched" else self._heads_loop(f)
        return nnf.relu(self.bn(y) + self.down(x))

    def attention(self, f: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, T, tau V)`` windowed input -> ``(B, N, tau V, tau V)`` attention maps
        ``A_i`` of eq. 3.11, all heads in one convolution and one batched product; each column
        sums to 1 (softmax over the input joints)."""
        B, _, T, tV = f.shape
        H, Ce = self.num_heads, self.embed_channels
        emb = nnf.conv2d(f, self.theta_phi.weight, self.theta_phi.bias).view(B, 2, H, Ce * T, tV)
        return torch.softmax(emb[:, 0].transpose(-1, -2) @ emb[:, 1] / (Ce * T), dim=-2)

    def _heads_batched(self, f: torch.Tensor) -> torch.Tensor:
        """All heads at once: one 1x1 conv, two batched matmuls, one 1x1 conv."""
        B, C, T, tV = f.shape
        H = self.num_heads
        M = self.dependency + self.attention(f)
        z = (f.reshape(B, 1, C * T, tV) @ M).view(B, H * C, T, tV)
        z = self._collapse(z)
        weight = self.embed_weight.transpose(0, 1).reshape(self.out_channels, H * C, 1, 1)
        return nnf.conv2d(z, weight, self.embed_bias.sum(0))

    def _heads_loop(self, f: torch.Tensor) -> torch.Tensor:
        """Reference: eq. 3.9 head by head, with the same parameters."""
        B, C, T, tV = f.shape
        H, Ce = self.num_heads, self.embed_channels
        w, b = self.theta_phi.weight, self.theta_phi.bias
        y = 0
        for i in range(H):
            th, ph = slice(i * Ce, (i + 1) * Ce), slice((H + i) * Ce, (H + i + 1) * Ce)
            theta = nnf.conv2d(f, w[th], b[th]).permute(0, 3, 1, 2).reshape(B, tV, Ce * T)
            phi = nnf.conv2d(f, w[ph], b[ph]).reshape(B, Ce * T, tV)
            A = torch.softmax(theta @ phi / (Ce * T), dim=-2)
            z = (f.reshape(B, C * T, tV) @ (self.dependency[i] + A)).view(B, C, T, tV)
            z = self._collapse(z)
            y = y + nnf.conv2d(z, self.embed_weight[i, :, :, None, None], self.embed_bias[i])
        return y


class TLSU(nn.Module):
    """Temporal long-short dependency unit, eq. 3.12: a ``(t x 1)`` dilated convolution + BN.

    Shapes: ``(B, C, T, V) -> (B, C, ceil(T / stride), V)``.
    """

    def __init__(self, channels: int, kernel_size: int = 9, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        pad = (kernel_size - 1) // 2 * dilation
        self.conv = nn.Conv2d(
            channels, channels, (kernel_size, 1), stride=(stride, 1), padding=(pad, 0), dilation=(dilation, 1)
        )
        self.bn = nn.BatchNorm2d(channels)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out")
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class Block(nn.Module):
    """``relu(T-LSU(S-LSU(f)) + residual(f))``, eq. 3.8; the residual is a strided 1x1 conv + BN
    where shape changes, the identity otherwise, and absent in the first block."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_joints: int,
        stride: int = 1,
        dilation: int = 1,
        num_heads: int = 3,
        tau: int = 1,
        kernel_size: int = 9,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.slsu = SLSU(in_channels, out_channels, num_joints, num_heads, tau)
        self.tlsu = TLSU(out_channels, kernel_size, stride, dilation)
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1)), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tlsu(self.slsu(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return nnf.relu(y)


class UNIK(nn.Module):
    """UNIK (thesis Fig. 3.5): data BatchNorm1d, ``K`` blocks, global average pooling, classifier.

    Defaults are the thesis model: ``K = 10`` blocks of ``THESIS_CHANNELS``, temporal stride 2
    entering 128 and 256 channels, ``N = 3`` heads, ``tau = 1``, T-LSU kernel 9 with
    ``THESIS_DILATIONS``. Smaller ``channels`` (with matching ``strides``/``dilations``) give
    the tiny models the tests train.

    ``forward``: ``(N, C, T, V, M)`` float -> ``(N, num_classes)`` logits.
    """

    def __init__(
        self,
        num_classes: int = 60,
        num_joints: int = 17,
        num_persons: int = 2,
        in_channels: int = 2,
        num_heads: int = 3,
        tau: int = 1,
        channels: Sequence[int] = THESIS_CHANNELS,
        strides: Sequence[int] | None = None,
        dilations: Sequence[int] | None = None,
        kernel_size: int = 9,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if strides is None:
            strides = THESIS_STRIDES if channels == THESIS_CHANNELS else _default_strides(channels)
        if dilations is None:
            dilations = THESIS_DILATIONS if channels == THESIS_CHANNELS else (1,) * len(channels)
        if not (len(channels) == len(strides) == len(dilations)):
            raise ValueError(
                f"channels, strides and dilations need one entry per block; got "
                f"{len(channels)}, {len(strides)}, {len(dilations)}"
            )
        self.num_classes, self.num_joints, self.num_persons = num_classes, num_joints, num_persons
        self.in_channels = in_channels
        self.data_bn = nn.BatchNorm1d(num_persons * in_channels * num_joints)
        blocks = []
        c_in = in_channels
        for k, (c_out, s, d) in enumerate(zip(channels, strides, dilations)):
            blocks.append(Block(c_in, c_out, num_joints, s, d, num_heads, tau, kernel_size, residual=k > 0))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.feature_dim = c_in
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(c_in, num_classes)
        self.reset_classifier(num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh linear classifier for ``num_classes`` (fine-tuning, linear probing)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.feature_dim, num_classes).to(self.data_bn.weight.device)
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_classes))
        nn.init.zeros_(self.fc.bias)

    def set_head_mode(self, mode: str) -> UNIK:
        """``"batched"`` (one op for all heads) or ``"loop"`` (the per-head reference)."""
        if mode not in HEAD_MODES:
            raise ValueError(f"head mode must be one of {HEAD_MODES}, got {mode!r}")
        for block in self.blocks:
            block.slsu.head_mode = mode
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, T, V, M) -> (N, feature_dim)`` pooled over time, joints and persons."""
        N, C, T, V, M = x.shape
        if (self.in_channels, self.num_joints, self.num_persons) != (C, V, M):
            raise ValueError(
                f"UNIK built for C={self.in_channels}, V={self.num_joints}, M={self.num_persons} "
                f"got input of shape {tuple(x.shape)} (N, C, T, V, M)"
            )
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(N, M * V * C, T))
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)
        for block in self.blocks:
            x = block(x)
        return x.view(N, M, x.shape[1], -1).mean(3).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Every parameter except the classifier's."""
        head = {id(p) for p in self.fc.parameters()}
        return [p for p in self.parameters() if id(p) not in head]


def _default_strides(channels: tuple[int, ...]) -> tuple[int, ...]:
    """Stride 2 wherever the channel count grows past the first block, as in the thesis."""
    return tuple(2 if k > 0 and c > channels[k - 1] else 1 for k, c in enumerate(channels))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
