"""Prometheus text for `GET /metrics`: requests, latencies, queue depth, models loaded."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and latency histograms per route, safe across threads."""

    def __init__(self) -> None:
        """Empty."""
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        with self._lock:
            self.requests[(method, route, status)] += 1
            slot = next((i for i, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))
            self.buckets[route][slot] += 1
            self.sums[route] += seconds

    def render(self, queue_depth: int, models_loaded: int) -> str:
        """The exposition text."""
        out = [
            "# HELP localrag_requests_total HTTP requests by method, route and status.",
            "# TYPE localrag_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(
                    f'localrag_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}'
                )
            out += [
                "# HELP localrag_request_seconds Request latency by route.",
                "# TYPE localrag_request_seconds histogram",
            ]
            for route, counts in sorted(self.buckets.items()):
                acc = 0
                for bound, n in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                    acc += n
                    out.append(f'localrag_request_seconds_bucket{{route="{route}",le="{bound}"}} {acc}')
                out.append(f'localrag_request_seconds_sum{{route="{route}"}} {self.sums[route]:.6f}')
                out.append(f'localrag_request_seconds_count{{route="{route}"}} {acc}')
        out += [
            "# HELP localrag_index_queue_depth Index jobs waiting to run.",
            "# TYPE localrag_index_queue_depth gauge",
            f"localrag_index_queue_depth {queue_depth}",
            "# HELP localrag_models_loaded Models loaded in this process.",
            "# TYPE localrag_models_loaded gauge",
            f"localrag_models_loaded {models_loaded}",
        ]
        return "\n".join(out) + "\n"
