"""Typed settings: what a stage reads from the configuration, as a frozen dataclass made from the validated config.

Names and defaults are declared once, in the schema. A settings class lists the configuration sections it is
made from (`SECTIONS`, dotted paths into a validated config); its fields carry types only, and `of` fills what a
caller leaves out from those sections' schema defaults. A test checks every class's fields against the schema.
Scripts pass the rule's plain config dicts on; each stage's entry point turns them into its settings with `of`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from destaflow.config import schema_defaults

S = TypeVar("S", bound="Settings")


class Settings:
    """Base of the settings dataclasses (subclasses are `@dataclass(frozen=True)` with no field defaults)."""

    SECTIONS: ClassVar[tuple[str, ...]]
    """Dotted config paths whose keys name the fields; later sections' defaults win over earlier ones'."""

    @classmethod
    def of(cls: type[S], values: S | Mapping[str, Any] | None = None) -> S:
        """`values` (a config section, or the merge of several) as settings; absent keys take the schema's defaults."""
        if isinstance(values, cls):
            return values
        names = field_names(cls)
        given = dict(values or {})
        if unknown := sorted(set(given) - names):
            raise ValueError(f"unknown {cls.__name__} settings: {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        merged = {key: value for key, value in section_defaults(cls.SECTIONS).items() if key in names} | given
        if missing := sorted(names - set(merged)):
            raise ValueError(f"{cls.__name__} needs {', '.join(missing)}: the schema has no default for them")
        for name, kind in nested_settings(cls).items():
            merged[name] = kind.of(merged[name])
        return cls(**merged)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (nested settings as dicts): for stamps, logs and JSON."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def replace(self: S, **changes: Any) -> S:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def field_names(cls: type) -> set[str]:
    return {field.name for field in dataclasses.fields(cls)}


def section_defaults(paths: tuple[str, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        merged |= _section_defaults(path)
    return copy.deepcopy(merged)


@functools.cache
def _section_defaults(path: str) -> dict[str, Any]:
    top, *rest = path.split(".")
    section = schema_defaults(top)
    for key in rest:
        section = section[key]
    return section


@functools.cache
def nested_settings(cls: type) -> dict[str, type[Settings]]:
    """Fields whose type is itself a settings class (made from a sub-section)."""
    hints = typing.get_type_hints(cls)
    return {name: kind for name, kind in hints.items() if isinstance(kind, type) and issubclass(kind, Settings)}
