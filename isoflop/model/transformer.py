"""A decoder-only transformer: embeddings, pre-norm blocks, a linear head. No training logic.

Shapes in comments: B batch, T sequence length, C = d_model, H heads, Dh = C / H,
V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from isoflop.model.config import ModelConfig


def sinusoidal_table(seq_len: int, d_model: int) -> torch.Tensor:
    """Fixed positions of Vaswani et al. (2017), Section 3.5, shape (T, C)."""
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(seq_len, d_model)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv)
    return table


def rotary_tables(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of RoPE (Su et al. 2021), each of shape (T, Dh), the Dh/2
    frequencies repeated for the two halves of a head (GPT-NeoX's layout)."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel i with channel i + Dh/2 of x (B, H, T, Dh) by position-dependent angles.

    Pairing the two halves (rather than adjacent channels) is the same rotation
    up to a fixed permutation of channels, and about twice as fast on CPU: one
    concatenation instead of strided slices, a stack and a flatten.
    """
    h = x.shape[-1] // 2
    rotated = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
    return x * cos + rotated * sin


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.proj.is_residual = True  # type: ignore[assignment]  # a mark read by _init_weights (GPT-2's scaled init)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, Dh)
        if rope is not None:
            cos, sin = rope[0][:T], rope[1][:T]
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        # is_causal masks every later position: a token never attends to the future.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, Dh)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model, bias=False)
        self.proj.is_residual = True  # type: ignore[assignment]  # a mark read by _init_weights (GPT-2's scaled init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.mlp = MLP(cfg)

    def forward(self, x, rope):
        x = x + self.attn(self.ln1(x), rope)
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """Decoder-only language model.

    ``forward(idx, targets=None, loss_mask=None)`` returns ``(logits, loss)``;
    loss is the mean cross-entropy in nats per token over positions where
    ``loss_mask`` is true (all positions when it is None), or None without targets.
    """

    pos_table: torch.Tensor  # (T, C) sinusoidal positions, a buffer when pos_encoding is sinusoidal

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.seq_len, cfg.d_model) if cfg.pos_encoding == "learned" else None
        if cfg.pos_encoding == "sinusoidal":
            self.register_buffer("pos_table", sinusoidal_table(cfg.seq_len, cfg.d_model), persistent=False)
        if cfg.pos_encoding == "rotary":
            cos, sin = rotary_tables(cfg.seq_len, cfg.head_dim)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_emb.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 initialisation (Radford et al. 2019): N(0, 0.02), with residual
        projections scaled by 1/√(2L) so the residual stream's variance does not
        grow with depth. Uses the global torch RNG; seed it (or fork it) first."""
        std = 0.02
        for m in self.modules():
            if isinstance(m, nn.Linear):
                s = std / math.sqrt(2 * self.cfg.n_layers) if getattr(m, "is_residual", False) else std
                nn.init.normal_(m.weight, 0.0, s)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, 0.0, std)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, loss_mask: torch.Tensor | None = None):
        B, T = idx.shape
        if T > self.cfg.seq_len:
            raise ValueError(f"sequence of {T} tokens exceeds seq_len {self.cfg.seq_len}")
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(T, device=idx.device))
        elif self.cfg.pos_encoding == "sinusoidal":
            x = x + self.pos_table[:T]
        rope = (self.rope_cos, self.rope_sin) if self.cfg.pos_encoding == "rotary" else None
        for block in self.blocks:
            x = block(x, rope)
        logits = self.head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        losses = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
        if loss_mask is None:
            return logits, losses.mean()
        m = loss_mask.reshape(-1).to(losses.dtype)
        return logits, (losses * m).sum() / m.sum().clamp_min(1.0)
