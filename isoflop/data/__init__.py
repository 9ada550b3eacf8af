"""The data side: tokenizers, text sources, cached corpora, batches.

* :mod:`~isoflop.data.tokenizers`: bytes and byte-level BPE.
* :mod:`~isoflop.data.sources`: shakespeare, text:PATH, piglatin, synthetic.
* :mod:`~isoflop.data.corpus`: :func:`load_corpus` builds once and opens memmaps.
* :mod:`~isoflop.data.batches`: training windows, the fixed validation set, gathering.
"""

from isoflop.data.batches import fixed_windows, gather, random_windows
from isoflop.data.corpus import Corpus, default_cache_dir, load_corpus
from isoflop.data.sources import (
    EOP,
    EOS,
    SOS,
    markov_source,
    pig_latin,
    piglatin_examples,
    sample_markov,
    strip_markdown,
)
from isoflop.data.tokenizers import BPETokenizer, ByteTokenizer, parse_tokenizer
from isoflop.errors import DataError

__all__ = [
    "EOP",
    "EOS",
    "SOS",
    "BPETokenizer",
    "ByteTokenizer",
    "Corpus",
    "DataError",
    "default_cache_dir",
    "fixed_windows",
    "gather",
    "load_corpus",
    "markov_source",
    "parse_tokenizer",
    "pig_latin",
    "piglatin_examples",
    "random_windows",
    "sample_markov",
    "strip_markdown",
]
