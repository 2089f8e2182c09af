"""The labelled corpus shipped with the package: small real and generated training logs.

The files live in ``pytest_synthloss/corpus/`` (its ``README.md`` gives each one's source
and licence); every log has its labels next to it, so ``load_log(corpus_path(name))``
reads both::

    >>> for name in corpus_logs():
    ...     print(name)
    generated/llm_pretrain_trouble.csv
    generated/slow_divergence_metrics.csv
    torchtitan/llama3_cuda.txt
    torchtitan/qwen3_moe_cuda.txt
    >>> corpus_path("torchtitan/llama3_cuda.txt").name
    'llama3_cuda.txt'
"""

from __future__ import annotations

from pathlib import Path

from pytest_synthloss.core.errors import SynthLossError

__all__ = ["CORPUS_DIR", "corpus_logs", "corpus_path"]

#: Where the corpus files are installed.
CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
_NOT_LOGS = (".labels.json", "LICENSE", "README.md")


def corpus_logs() -> tuple[str, ...]:
    """The corpus's logs, as ``"<folder>/<file>"`` names, sorted."""
    return tuple(
        sorted(
            path.relative_to(CORPUS_DIR).as_posix()
            for path in CORPUS_DIR.glob("*/*")
            if path.is_file() and not path.name.endswith(_NOT_LOGS)
        )
    )


def corpus_path(name: str) -> Path:
    """The path of the corpus log ``name`` (one of :func:`corpus_logs`)."""
    known = corpus_logs()
    if name not in known:
        raise SynthLossError(f"no corpus log {name!r}; the corpus holds: {', '.join(known)}")
    return CORPUS_DIR / name
