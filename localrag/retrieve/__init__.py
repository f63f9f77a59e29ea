"""The retrieve stage: fuse dense, keyword and visual search into cited hits."""

from localrag.retrieve.retriever import Hit, Retriever, SearchResponse

__all__ = ["Hit", "Retriever", "SearchResponse"]
