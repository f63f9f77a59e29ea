"""The model registry: models.yaml records, profiles, and file verification."""

from localrag.registry.spec import ModelSpec, Profile, Registry, load_registry
from localrag.registry.verify import VerifyResult, sha256_file, verify_spec

__all__ = [
    "ModelSpec",
    "Profile",
    "Registry",
    "VerifyResult",
    "load_registry",
    "sha256_file",
    "verify_spec",
]
