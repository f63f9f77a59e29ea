"""Registers every subcommand on the group (imported for its side effect)."""

from localrag.cli import doctor_cmd, index_cmd, models_cmd, query_cmd

__all__ = ["doctor_cmd", "index_cmd", "models_cmd", "query_cmd"]
