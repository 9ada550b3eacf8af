"""Parameter and FLOP accounting: every formula in one place. Pure arithmetic, no torch.

Conventions for training FLOPs per token (forward + backward):

* ``6N`` — Kaplan et al. (2020), "Scaling Laws for Neural Language Models",
  Section 2.1: C ≈ 6N with N the non-embedding parameters. Leaves out the
  attention over the context (12·L·d·T) and the embedding and output-head
  matmuls, which dominate tiny models.
* ``6N+attn`` — Chowdhery et al. (2022), "PaLM", Appendix B (also nanoGPT's
  ``estimate_mfu``): 6N + 12·L·d·T. Adds the attention logits and the
  weighted sum of values (full T, causal mask ignored). Still leaves out the
  output head and the softmax.
* ``chinchilla`` — Hoffmann et al. (2022), Appendix F, Table 4: embeddings
  (2·V·d), QKV projections (6·d²), attention logits (2·T·d), softmax
  (3·H·T), softmax @ values (2·T·d), output projection (2·d²), MLP
  (4·r·d², r the MLP ratio), final logits (2·d·V), per token and layer as
  applicable; backward = 2 × forward. Leaves out norms, residual additions
  and the optimiser. The default.

The model in :mod:`isoflop.model.transformer` has no biases; each LayerNorm has a weight
only. Its counts are checked against ``sum(p.numel())`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from isoflop.errors import ConfigError
from isoflop.model.config import ModelConfig

CONVENTIONS = ("6N", "6N+attn", "chinchilla")
DEFAULT_CONVENTION = "chinchilla"


@dataclass(frozen=True)
class ParamCounts:
    """Parameters of a model.

    Attributes:
        total: every trainable parameter (a tied head is counted once).
        embedding: token embedding, learned position embedding, and the
            output head when it is not tied.
        non_embedding: everything else: attention, MLP and norm weights
            (Kaplan et al.'s N).
    """

    total: int
    embedding: int
    non_embedding: int


def param_counts(cfg: ModelConfig) -> ParamCounts:
    """Parameters of the model :mod:`isoflop.model.transformer` builds for ``cfg``.

    Per block: QKV 3d², output projection d², MLP 2·r·d², two LayerNorm
    weights 2d; plus a final LayerNorm (d), a token embedding (V·d), a learned
    position table (T·d) if used, and an untied head (V·d) if used.
    """
    d, L, V, T, r = cfg.d_model, cfg.n_layers, cfg.vocab_size, cfg.seq_len, cfg.mlp_ratio
    per_block = 4 * d * d + 2 * r * d * d + 2 * d
    non_embedding = L * per_block + d
    embedding = V * d + (T * d if cfg.pos_encoding == "learned" else 0) + (0 if cfg.tie_embeddings else V * d)
    return ParamCounts(total=non_embedding + embedding, embedding=embedding, non_embedding=non_embedding)


def chinchilla_forward_flops_per_token(cfg: ModelConfig) -> float:
    """Forward FLOPs per token by Hoffmann et al. (2022), Appendix F.

    The appendix counts per sequence; each term here is divided by T.
    """
    d, L, V, T, H, r = cfg.d_model, cfg.n_layers, cfg.vocab_size, cfg.seq_len, cfg.n_heads, cfg.mlp_ratio
    embeddings = 2 * V * d
    attention = 6 * d * d + 2 * T * d + 3 * H * T + 2 * T * d + 2 * d * d
    dense = 2 * 2 * r * d * d
    logits = 2 * d * V
    return float(embeddings + L * (attention + dense) + logits)


def flops_per_token(cfg: ModelConfig, convention: str = DEFAULT_CONVENTION) -> float:
    """Training FLOPs (forward + backward) per token under a convention.

    Args:
        cfg: the model shape.
        convention: "6N", "6N+attn" or "chinchilla" (see the module docstring).

    Raises:
        ConfigError: an unknown convention.
    """
    n = param_counts(cfg).non_embedding
    if convention == "6N":
        return 6.0 * n
    if convention == "6N+attn":
        return 6.0 * n + 12.0 * cfg.n_layers * cfg.d_model * cfg.seq_len
    if convention == "chinchilla":
        return 3.0 * chinchilla_forward_flops_per_token(cfg)
    raise ConfigError(f"unknown FLOP convention {convention!r} (choose from {', '.join(CONVENTIONS)})")


def all_flops_per_token(cfg: ModelConfig) -> dict[str, float]:
    """Training FLOPs per token under every convention."""
    return {c: flops_per_token(cfg, c) for c in CONVENTIONS}


def matmul_flops_per_token(cfg: ModelConfig) -> tuple[float, float]:
    """Forward matmul FLOPs per token, split as (dense layers, attention).

    Dense: QKV, output projection, MLP and the output head. Attention: the
    logits and the weighted sum of values over the full context (T·d each,
    twice for multiply-add), which is how kernels and torch's FLOP counter
    count a causal attention. This is what ``torch.utils.flop_counter``
    measures; the tests compare the two.
    """
    d, L, V, T, r = cfg.d_model, cfg.n_layers, cfg.vocab_size, cfg.seq_len, cfg.mlp_ratio
    dense = L * (2 * 4 * d * d + 2 * 2 * r * d * d) + 2 * d * V
    attention = L * 4 * T * d
    return float(dense), float(attention)


def tokens_for_budget(budget_flops: float, cfg: ModelConfig, convention: str = DEFAULT_CONVENTION) -> float:
    """Training tokens D = C / (FLOPs per token) that a budget C buys."""
    return budget_flops / flops_per_token(cfg, convention)


def complete_ndc(params=None, tokens=None, flops=None):
    """Any two of N, D and C give the third under Kaplan et al.'s C ≈ 6ND (2020, Section 2.1), the counting of
    a table or run that gives no more than its totals.

    Args:
        params, tokens, flops: N, D and C (numbers or arrays); exactly one may be None.

    Returns:
        (N, D, C, derived): the three, and the name ("params", "tokens" or "flops") of the one derived, or None
        when all three were given.

    Raises:
        ConfigError: more than one is missing.
    """
    missing = [k for k, v in (("params", params), ("tokens", tokens), ("flops", flops)) if v is None]
    if len(missing) > 1:
        raise ConfigError(f"give at least two of N, D and C ({' and '.join(missing)} are missing)")
    if params is None:
        params = flops / (6.0 * tokens)
    elif tokens is None:
        tokens = flops / (6.0 * params)
    elif flops is None:
        flops = 6.0 * params * tokens
    return params, tokens, flops, (missing[0] if missing else None)
