"""Per-project search indexes, derived from the Store and cached on disk.

``IndexManager`` serves one ``ProjectIndex`` per project: a dense FAISS index
over the chunks' cached vectors and a BM25 keyword index over identifier-aware
tokens. Workers build a generation when the Store's index generation moves and
publish it with a checksummed manifest (``manager.py``, ``publish.py``: the index
directory, or GridFS with MongoDB); servers load the newest published one.
Generations are written crash-safely (``layout.py``). docs/INDEX_PUBLICATION.md.
"""

from .dense import DENSE_EXACT_MAX_VECTORS, DenseKind
from .layout import IndexManifest
from .manager import IndexManager
from .project import ProjectIndex
from .tokens import tokenize

__all__ = [
    "DENSE_EXACT_MAX_VECTORS",
    "DenseKind",
    "IndexManager",
    "IndexManifest",
    "ProjectIndex",
    "tokenize",
]
