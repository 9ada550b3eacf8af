"""Tokenizers: UTF-8 bytes, or byte-level BPE trained with the ``tokenizers`` library."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from isoflop.errors import DataError, DependencyError


class ByteTokenizer:
    """UTF-8 bytes as tokens (vocabulary 256)."""

    name = "byte"
    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint16)

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids if int(i) < 256).decode("utf-8", errors="replace")


class BPETokenizer:
    """Byte-level BPE trained with the ``tokenizers`` library (Sennrich et al. 2016; GPT-2's byte-level variant)."""

    def __init__(self, tok, vocab_size: int):
        self._tok = tok
        self.vocab_size = int(vocab_size)
        self.name = f"bpe:{vocab_size}"

    @classmethod
    def train(cls, text: str, vocab_size: int, path: Path) -> BPETokenizer:
        """Train on ``text`` (or load from ``path`` if it exists) and cache to ``path``."""
        try:
            from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        except ImportError:
            raise DependencyError("BPE tokenizers need the 'tokenizers' package (pip install 'isoflop[bpe]')") from None
        if path.exists():
            tok = Tokenizer.from_file(str(path))
        else:
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
            )
            tok.train_from_iterator(_chunks(text), trainer=trainer)
            path.parent.mkdir(parents=True, exist_ok=True)
            tok.save(str(path))
        return cls(tok, tok.get_vocab_size())

    def encode(self, text: str) -> np.ndarray:
        ids = []
        for chunk in _chunks(text):
            ids.extend(self._tok.encode(chunk).ids)
        return np.asarray(ids, dtype=np.uint16)

    def decode(self, ids) -> str:
        return self._tok.decode([int(i) for i in ids])


def _chunks(text: str, size: int = 1 << 16):
    """Line-aligned pieces of ``text`` (the tokenizers library encodes long strings slowly)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def parse_tokenizer(spec: str) -> tuple[str, int | None]:
    """ "byte" -> ("byte", None); "bpe:4096" -> ("bpe", 4096).

    Raises:
        DataError: anything else, or a BPE vocabulary outside 256–65,535.
    """
    if spec == "byte":
        return "byte", None
    m = re.fullmatch(r"bpe:(\d+)", spec or "")
    if not m:
        raise DataError(f"unknown tokenizer {spec!r} (use 'byte' or 'bpe:VOCAB', e.g. bpe:4096)")
    v = int(m.group(1))
    if not 256 < v <= 65535:
        raise DataError(f"BPE vocabulary ({v}) must be between 257 and 65,535")
    return "bpe", v
