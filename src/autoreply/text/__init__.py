"""Text analysis adapters (I/O: dictionaries loaded from installed packages).

``SudachiAnalyser`` implements ``autoreply.domain.analysis.Analyser`` with SudachiPy and
its ``sudachidict_core`` dictionary (Japanese) and the Snowball English stemmer. It is
built once, in the composition root (``bootstrap.build_analyser``), and passed in.
"""

from autoreply.text.sudachi import MAX_CHARS, SudachiAnalyser

__all__ = ["MAX_CHARS", "SudachiAnalyser"]
