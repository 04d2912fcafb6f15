"""Counting a text's tokens as a BERT WordPiece tokenizer does, offline and in pure Python,
so that chunks sized in tokens fit an embedding model's window (`split(unit="tokens")`).

The default vocabulary is bert-base-uncased's, the one all-MiniLM-L6-v2 reads (shipped in
`data/`): counts equal the `tokenizers` package's `BertWordPieceTokenizer` (uncased) without
the [CLS]/[SEP] it adds, so a 256-token window holds 254 counted tokens.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path
from typing import Any

__all__ = ["WordPieceCounter"]

_VOCAB = Path(__file__).parent / "data" / "minilm_vocab.txt"
_MAX_WORD = 100  # longer words are one [UNK], as in BERT
_CACHE = 1 << 18  # distinct words remembered before the memo starts over
_ASCII_PUNCT = frozenset(chr(c) for c in [*range(33, 48), *range(58, 65), *range(91, 97),
                                          *range(123, 127)])
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _alone(char: str, category: str) -> bool:
    """Whether BERT makes `char` a word of its own: punctuation or a CJK ideograph."""
    if char in _ASCII_PUNCT or category[0] == "P":
        return True
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK)


class WordPieceCounter:
    """Counts BERT WordPiece tokens (lowercased, accents stripped) of a text: text is
    cleaned of control characters, split at whitespace, punctuation and CJK ideographs, and
    each word cut greedily into the longest vocabulary pieces (`##` continuing a word); a
    word with no such cut, or longer than 100 characters, is one [UNK]."""

    def __init__(self, vocab: str | os.PathLike[str] | None = None) -> None:
        self.vocab_path = Path(vocab) if vocab is not None else _VOCAB
        data = self.vocab_path.read_bytes()
        self.vocab = frozenset(data.decode("utf-8").splitlines())
        self._digest = hashlib.sha256(data).hexdigest()
        self._memo: dict[str, int] = {}

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What the counts depend on: the vocabulary's content."""
        return {"type": type(self).__name__, "vocab_sha256": self._digest}

    def count_tokens(self, text: str) -> int:
        """The number of word pieces in `text` (no special tokens)."""
        memo, total = self._memo, 0
        for word in text.split():
            n = memo.get(word)
            if n is None:
                if len(memo) >= _CACHE:
                    memo.clear()
                n = memo[word] = self._count_word(word)
            total += n
        return total

    def _count_word(self, word: str) -> int:
        """Pieces of one whitespace-free run: its punctuation and CJK characters one each,
        the runs between them cut into vocabulary pieces."""
        total, run = 0, []
        for char in unicodedata.normalize("NFD", word.lower()):
            category = unicodedata.category(char)
            if category == "Mn" or (category[0] == "C" and char not in "\t\n\r") or (
                    char == "\ufffd"):
                continue
            if _alone(char, category):
                total += self._pieces("".join(run)) + 1
                run = []
            else:
                run.append(char)
        return total + self._pieces("".join(run))

    def _pieces(self, word: str) -> int:
        if not word:
            return 0
        if len(word) > _MAX_WORD:
            return 1
        vocab, start, n = self.vocab, 0, 0
        while start < len(word):
            end = len(word)
            prefix = "##" if start else ""
            while end > start and prefix + word[start:end] not in vocab:
                end -= 1
            if end == start:
                return 1  # no piece matches: the whole word is one [UNK]
            n, start = n + 1, end
        return n
