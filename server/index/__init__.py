"""Per-project search indexes, derived from the Store and cached on disk.

``IndexManager`` serves one ``ProjectIndex`` per project: a dense FAISS index
over the chunks' cached vectors and a BM25 keyword index over identifier-aware
tokens. Both are rebuilt from the Store whenever the on-disk copy is missing,
damaged or older than the Store's index generation (see ``manager.py``), and
written crash-safely (see ``layout.py``).
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
