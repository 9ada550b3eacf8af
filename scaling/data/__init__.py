"""The data side: tokenizers, text sources, cached corpora, batches.

* :mod:`~scaling.data.tokenizers`: bytes and byte-level BPE.
* :mod:`~scaling.data.sources`: shakespeare, text:PATH, piglatin, synthetic.
* :mod:`~scaling.data.corpus`: :func:`load_corpus` builds once and opens memmaps.
* :mod:`~scaling.data.batches`: training windows, the fixed validation set, gathering.
"""

from scaling.data.batches import fixed_windows, gather, random_windows
from scaling.data.corpus import Corpus, default_cache_dir, load_corpus
from scaling.data.sources import EOP, EOS, SOS, markov_source, pig_latin, piglatin_examples, sample_markov, strip_markdown
from scaling.data.tokenizers import BPETokenizer, ByteTokenizer, parse_tokenizer
from scaling.errors import DataError

__all__ = ["BPETokenizer", "ByteTokenizer", "Corpus", "DataError", "EOP", "EOS", "SOS", "default_cache_dir",
           "fixed_windows", "gather", "load_corpus", "markov_source", "parse_tokenizer", "pig_latin",
           "piglatin_examples", "random_windows", "sample_markov", "strip_markdown"]
