"""Where the vectors live: the embedded Chroma folder, or a Chroma server named by a URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from localrag.errors import ConfigError

DEFAULT_DATABASE = "default_database"  # Chroma's own default, so `chroma run` needs no setup


@dataclass(frozen=True)
class StoreLocation:
    """An embedded folder (path) or a server (host, port, database, token); validated on parse."""

    path: Path | None = None
    host: str = ""
    port: int = 0
    ssl: bool = False
    database: str = DEFAULT_DATABASE
    token: str | None = None

    @property
    def remote(self) -> bool:
        """True for a Chroma server."""
        return self.path is None

    @property
    def label(self) -> str:
        """How messages name the store: its folder, or its URL without the token."""
        if self.path is not None:
            return str(self.path)
        scheme = "https" if self.ssl else "http"
        db = "" if self.database == DEFAULT_DATABASE else f"/{self.database}"
        return f"{scheme}://{self.host}:{self.port}{db}"

    @classmethod
    def parse(cls, spec: str | None, default_path: Path, token: str | None = None) -> StoreLocation:
        """`--store`: unset or a path for the embedded store, http(s)://HOST:PORT[/DATABASE] for a server.

        The token (for a server whose auth is configured) comes from the argument, else
        $LOCALRAG_STORE_TOKEN; it is sent as `Authorization: Bearer`, never put in a URL.
        """
        if not spec:
            return cls(path=default_path)
        if "://" not in spec:
            return cls(path=Path(spec).expanduser())
        parts = urlsplit(spec)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"--store {spec}: expected a folder or http://HOST:PORT of a Chroma server")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 8000)
        except ValueError:
            raise ConfigError(f"--store {spec}: the port is not a number") from None
        if not parts.hostname:
            raise ConfigError(f"--store {spec}: no host")
        if parts.username or parts.password:
            raise ConfigError(f"--store {spec}: put the token in $LOCALRAG_STORE_TOKEN, not in the URL")
        database = parts.path.strip("/") or DEFAULT_DATABASE
        if "/" in database:
            raise ConfigError(f"--store {spec}: the path names one Chroma database, like /manuals")
        return cls(
            host=parts.hostname,
            port=port,
            ssl=parts.scheme == "https",
            database=database,
            token=token or os.environ.get("LOCALRAG_STORE_TOKEN") or None,
        )
