"""Keep every dependency from reaching for the network: hubs, telemetry, caches."""

from __future__ import annotations

import os

# Set before huggingface_hub, transformers or chromadb are imported; they read these once.
_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",
}


def enforce() -> None:
    """Set the offline environment unless the user explicitly overrode a variable."""
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
