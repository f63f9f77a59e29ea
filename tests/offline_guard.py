"""Run the localrag CLI with every outbound AF_INET/AF_INET6 connection raising.

    python tests/offline_guard.py LOG [--loopback] -- localrag-args...

Each attempt is appended to LOG (so a caller that swallows the error is still caught).
--loopback lets connections to 127.0.0.1 and ::1 through (a Chroma or llama.cpp server that
a test started on this machine); every other address is still blocked.
"""

from __future__ import annotations

import socket
import sys
import traceback

LOG = sys.argv[1]
_BLOCKED = (socket.AF_INET, socket.AF_INET6)
_LOOPBACK = "--loopback" in sys.argv[: sys.argv.index("--")] if "--" in sys.argv else False
_LOCAL_NAMES = ("127.0.0.1", "::1", "localhost")


def _local(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return _LOOPBACK and isinstance(host, str) and (host in _LOCAL_NAMES or host.startswith("127."))


class NetworkBlocked(OSError):
    """Raised on any attempt to reach the network."""


def _record(what: str, target: object) -> None:
    with open(LOG, "a") as fh:
        fh.write(f"{what} {target!r}\n{''.join(traceback.format_stack(limit=12))}\n")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in _BLOCKED and not _local(address):
        _record("connect", address)
        raise NetworkBlocked(f"network access blocked: connect {address!r}")
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in _BLOCKED and not _local(address):
        _record("connect_ex", address)
        raise NetworkBlocked(f"network access blocked: connect_ex {address!r}")
    return _connect_ex(self, address)


_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if _local(host):
        return _getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]
    _record("getaddrinfo", host)
    raise NetworkBlocked(f"network access blocked: resolve {host!r}")


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]

if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :]
    if args == ["--selftest"]:  # prove the guard bites: this must raise and be logged
        try:
            socket.create_connection(("localrag-selftest.invalid", 80), timeout=1)
        except NetworkBlocked:
            sys.exit(0)
        sys.exit(1)
    from localrag.cli import main

    sys.argv = ["localrag", *args]
    main(args)
