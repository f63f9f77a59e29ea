"""localrag: local multimodal RAG over product manuals."""

from localrag import offline as _offline

_offline.enforce()

__version__ = "0.1.0"
