"""Frozen model-description records read from models.yaml."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from localrag.errors import ConfigError, ModelError
from localrag.registry.params import EmbedderParams, LlamaParams, OcrParams, parse_params

P = TypeVar("P", LlamaParams, EmbedderParams, OcrParams)
ROLES = ("generator", "describer", "text_embedder", "image_embedder", "ocr")
ANSWER_MODES = ("extractive", "generated", "auto")
# shipped inside the package (a link to the repository's models.yaml, a copy in a wheel)
REPO_REGISTRY = Path(__file__).parents[1] / "models.yaml"


@dataclass(frozen=True)
class FileRef:
    """Where one file comes from: a pip package, a local path, a URL, or builtin code."""

    package: str | None = None
    path: str | None = None
    verify: str | None = None
    url: str | None = None
    builtin: str | None = None
    sha256: str | None = None

    def resolve(self) -> Path | None:
        """Return the local path to load, or None for builtin models."""
        if self.builtin:
            return None
        if self.package:
            return _package_root(self.package) / (self.path or "")
        if self.path:
            return Path(self.path).expanduser()
        raise ConfigError("a model source needs package, path or builtin")

    def verify_path(self) -> Path | None:
        """Return the file whose sha256 is recorded (the weights, for folder models)."""
        if self.builtin and not (self.verify and self.package):
            return None
        if self.verify:
            root = _package_root(self.package) if self.package else self.resolve()
            return root / self.verify if root else None
        return self.resolve()


def _package_root(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package {package!r} is not installed (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class ModelSpec:
    """One model of the registry."""

    id: str
    role: str
    source: FileRef
    size: int | None = None
    license: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    mmproj: FileRef | None = None
    endpoints: tuple[str, ...] = ()  # OpenAI-compatible servers that serve this model

    @property
    def remote(self) -> bool:
        """True for a model served over HTTP rather than loaded here."""
        return bool(self.endpoints)

    @property
    def llama(self) -> LlamaParams:
        """Typed llama.cpp params (generator and describer models)."""
        return self._typed(LlamaParams)

    @property
    def embedder(self) -> EmbedderParams:
        """Typed embedder params."""
        return self._typed(EmbedderParams)

    @property
    def ocr(self) -> OcrParams:
        """Typed OCR params."""
        return self._typed(OcrParams)

    def _typed(self, kind: type[P]) -> P:
        typed = parse_params(self.role, self.params, f"model {self.id!r}")
        if not isinstance(typed, kind):
            raise ConfigError(f"model {self.id!r} is a {self.role}, not a {kind.__name__} model")
        return typed

    @property
    def sha256(self) -> str | None:
        """The pinned sha256 of the weights file, if any."""
        return self.source.sha256

    @property
    def fingerprint(self) -> str:
        """A short identity stored with the index: id plus pinned hash when there is one."""
        if self.remote:
            return f"{self.id}@remote"
        return f"{self.id}@{(self.sha256 or 'unpinned')[:12]}"

    def path(self) -> Path | None:
        """The local path to load (None for builtin)."""
        return self.source.resolve()

    def require_path(self) -> Path:
        """The local path to load; raises ModelError naming the file when it is missing."""
        p = self.path()
        if p is None:
            raise ModelError(f"model {self.id!r} is builtin and has no file")
        if not p.exists():
            hint = f"; fetch it with scripts/fetch_models.py ({self.source.url})" if self.source.url else ""
            raise ModelError(f"model {self.id!r}: file not found: {p}{hint}")
        return p


@dataclass(frozen=True)
class Profile:
    """One model id per role (describer may be None), and how answers are made."""

    name: str
    roles: dict[str, str | None]
    answer_mode: str = "extractive"  # extractive | generated | auto (see localrag.answer)


@dataclass(frozen=True)
class Registry:
    """All models and profiles from one models.yaml."""

    path: Path
    models: dict[str, ModelSpec]
    profiles: dict[str, Profile]
    options: dict[str, Any] = field(default_factory=dict)

    def model(self, model_id: str) -> ModelSpec:
        """Look a model up by id."""
        try:
            return self.models[model_id]
        except KeyError:
            raise ConfigError(f"{self.path}: no model {model_id!r} in the registry") from None

    def profile(self, name: str) -> Profile:
        """Look a profile up by name."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(f"{self.path}: no profile {name!r} (known: {known})") from None

    def for_role(self, profile: str, role: str) -> ModelSpec | None:
        """The model a profile uses for a role, or None when the role is unset."""
        model_id = self.profile(profile).roles.get(role)
        return self.model(model_id) if model_id else None


def _file_ref(raw: dict[str, Any], sha: str | None) -> FileRef:
    return FileRef(
        package=raw.get("package"),
        path=raw.get("path"),
        verify=raw.get("verify"),
        url=raw.get("url"),
        builtin=raw.get("builtin"),
        sha256=sha,
    )


def model_spec(model_id: str, raw: dict[str, Any], where: Path) -> ModelSpec:
    role = raw.get("role")
    if role not in ROLES:
        raise ConfigError(f"{where}: model {model_id!r} has role {role!r}; expected one of {ROLES}")
    endpoints = raw.get("endpoints") or []
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if endpoints and role not in ("generator", "describer"):
        raise ConfigError(f"{where}: model {model_id!r}: only generators and describers can have endpoints")
    if not all(isinstance(e, str) and e.startswith(("http://", "https://")) for e in endpoints):
        raise ConfigError(f"{where}: model {model_id!r}: endpoints are http:// or https:// URLs")
    if not isinstance(raw.get("source"), dict) and not endpoints:
        raise ConfigError(f"{where}: model {model_id!r} needs a source mapping (or endpoints)")
    mm = raw.get("mmproj")
    parse_params(role, dict(raw.get("params") or {}), f"{where}: model {model_id!r}")  # refuse typos now
    return ModelSpec(
        id=model_id,
        role=role,
        source=_file_ref(raw.get("source") or {}, raw.get("sha256")),
        size=raw.get("size"),
        license=raw.get("license"),
        params=dict(raw.get("params") or {}),
        mmproj=_file_ref(mm, mm.get("sha256")) if isinstance(mm, dict) else None,
        endpoints=tuple(endpoints),
    )


def registry_path(explicit: str | Path | None = None) -> Path:
    """Find models.yaml: explicit, $LOCALRAG_MODELS, then the one beside the package."""
    for cand in (explicit, os.environ.get("LOCALRAG_MODELS"), REPO_REGISTRY):
        if cand:
            return Path(cand).expanduser()
    raise ConfigError("no models.yaml found")


def load_registry(path: str | Path | None = None) -> Registry:
    """Parse and validate models.yaml."""
    where = registry_path(path)
    try:
        data = yaml.safe_load(where.read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read the model registry ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict) or "models" not in data:
        raise ConfigError(f"{where}: expected top-level 'models' and 'profiles'")
    models = {mid: model_spec(mid, raw, where) for mid, raw in (data.get("models") or {}).items()}
    profiles: dict[str, Profile] = {}
    for name, raw_roles in (data.get("profiles") or {}).items():
        roles = dict(raw_roles or {})
        mode = roles.pop("answer_mode", "extractive")
        if mode not in ANSWER_MODES:
            raise ConfigError(
                f"{where}: profile {name!r} has answer_mode {mode!r}; expected one of {ANSWER_MODES}"
            )
        for role, mid in roles.items():
            if role not in ROLES:
                raise ConfigError(f"{where}: profile {name!r} has unknown role {role!r}")
            if mid and mid not in models:
                raise ConfigError(f"{where}: profile {name!r} uses unknown model {mid!r}")
            if (
                mid
                and models[mid].role != role
                and not (role == "generator" and models[mid].role == "describer")
            ):
                raise ConfigError(
                    f"{where}: profile {name!r} puts {mid!r} ({models[mid].role}) in role {role!r}"
                )
        profiles[name] = Profile(name=name, roles=roles, answer_mode=mode)
    return Registry(path=where, models=models, profiles=profiles, options=dict(data.get("settings") or {}))
