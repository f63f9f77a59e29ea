"""The store stage: persistent Chroma collections that remember which model built them."""

from localrag.store.chroma import COLLECTIONS, Record, SearchResult, Store

__all__ = ["COLLECTIONS", "Record", "SearchResult", "Store"]
