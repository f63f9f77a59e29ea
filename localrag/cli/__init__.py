"""The `localrag` command: the group, with every subcommand registered on it."""

from localrag.allocator import limit_arenas
from localrag.cli import bench_cmd, doctor_cmd, index_cmd, models_cmd, query_cmd, serve_cmd
from localrag.cli.group import cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    limit_arenas()  # before the first thread, so OCR and embedding threads share two arenas
    cli.main(args=argv, prog_name="localrag")


__all__ = ["bench_cmd", "cli", "doctor_cmd", "index_cmd", "main", "models_cmd", "query_cmd", "serve_cmd"]
