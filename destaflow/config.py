"""Load and validate the workflow configuration against schemas/config.schema.yaml.

Errors come back as one line that names the offending key and what is allowed, e.g.
`config key 'demo.test_voices': 'many' is not of type 'integer'`. Defaults from the schema are filled in.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid configuration; str() is a single line naming the key."""


def _filling_defaults(validator_class):
    """A validator class that writes each property's `default` into the instance before validating it."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties_with_defaults})


_Validator = _filling_defaults(jsonschema.Draft202012Validator)


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _one_line(error: jsonschema.ValidationError) -> str:
    key = _key_path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"under '{key}'" if error.absolute_path else "at the top level"
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown config key {', '.join(repr(u) for u in unknown)} {where}{hint}"
    if error.validator == "enum":
        return f"config key '{key}': {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "pattern":
        return f"config key '{key}': {error.instance!r} is not a valid value (expected {error.schema.get('x-hint', 'pattern ' + error.validator_value)})"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a validated copy of `config` with defaults filled in, or raise ConfigError."""
    config = copy.deepcopy(dict(config))
    validator = _Validator(schema if schema is not None else load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError(_one_line(jsonschema.exceptions.best_match(errors)))
    _check_across_keys(config)
    return config


@functools.cache
def _defaults() -> dict[str, Any]:
    return validate_config({})


def schema_defaults(section: str) -> dict[str, Any]:
    """The schema's defaults of one top-level section (a copy): the one place a library default is declared."""
    return copy.deepcopy(_defaults()[section])


def _check_across_keys(config: dict[str, Any]) -> None:
    """What the schema cannot say: relations between keys."""
    for key in ("pitch", "speaking_speed", "volume"):
        for label, (low, high) in config["demo"][key].items():
            if low > high:
                raise ConfigError(f"config key 'demo.{key}.{label}': range [{low}, {high}] has low > high")
    if config["augment"]["enabled"] and config["augment"]["name"] in config["corpora"]:
        raise ConfigError(f"config key 'augment.name': {config['augment']['name']!r} is also a configured corpus; pick another name")
    evaluation = config["evaluation"]
    served = [entry["name"] for entry in evaluation["systems"] if isinstance(entry, dict)]
    if clash := sorted({name for name in served if served.count(name) > 1 or name.startswith("ablation_")}):
        raise ConfigError(f"config key 'evaluation.systems': system name {clash[0]!r} is taken (names are unique; ablation_* are the ablations')")
    unbuilt = [f"benchmarks.{name}" for name, b in evaluation["benchmarks"].items() if not b["path"] and name != "demo"]
    unbuilt += [f"{kind}.sets.{name}" for kind in ("ifeval", "chat") for name, s in evaluation[kind]["sets"].items() if not s["path"] and name != "demo"]
    if evaluation["enabled"] and unbuilt:
        raise ConfigError(f"config key 'evaluation.{unbuilt[0]}.path': needed (only `demo` is built by the workflow)")


def missing_folders(config: dict[str, Any]) -> list[str]:
    """The folders a validated configuration names that do not exist here, as 'key: path'. Checked when the
    workflow starts rather than with the schema: a configuration may be written on one machine for another."""
    evaluation, augment = config["evaluation"], config["augment"]
    named = [(f"corpora.{name}.root", corpus.get("root")) for name, corpus in config["corpora"].items() if corpus["reader"] != "demo"]
    named += [(f"augment.{key}", augment[key]) for key in ("noise_dir", "rir_dir") if augment["enabled"] and augment[key]]
    if evaluation["enabled"]:
        named += [(f"evaluation.benchmarks.{name}.path", b["path"]) for name, b in evaluation["benchmarks"].items() if b["path"]]
        named += [(f"evaluation.{kind}.sets.{name}.path", s["path"]) for kind in ("ifeval", "chat") for name, s in evaluation[kind]["sets"].items() if s["path"]]
    return [f"{key}: {path}" for key, path in named if not os.path.isdir(path or "")]


def load_config(path: str | Path) -> dict[str, Any]:
    return validate_config(yaml.safe_load(Path(path).read_text()) or {})


def augment_sources(config: dict[str, Any]) -> list[str]:
    """Corpora the augmented set (and the learned SNR estimator) draws clean clips from."""
    return config["augment"]["sources"] or list(config["corpora"])


def augment_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The augmentation library's settings: the `augment` section less its workflow-level keys."""
    return {key: value for key, value in config["augment"].items() if key not in ("enabled", "sources")}


def snr_estimator_sources(config: dict[str, Any]) -> list[str]:
    """Corpora whose training clips are the learned SNR estimator's clean speech."""
    return config["attributes"]["snr_estimator"]["sources"] or augment_sources(config)


def brouhaha_sources(config: dict[str, Any]) -> list[str]:
    """Corpora whose training clips are the brouhaha-style model's clean speech."""
    return config["attributes"]["brouhaha"]["sources"] or augment_sources(config)


def room_ranges(config: dict[str, Any]) -> dict[str, Any]:
    """Shoebox ranges for simulated reverberation (the augmentation's rooms, also used by the demo benchmark)."""
    return config["augment"]["room"]


def true_seed_settings(config: dict[str, Any]) -> dict[str, Any]:
    """How the seed_llm system writes each benchmark item's true seed transcript: the seed stage's attributes and style,
    and the attribute stage's SNR and C50 bins."""
    bins = config["attributes"]["bins"]
    return {"attributes": config["seed"]["attributes"], "style": config["seed"]["style"], "bins": {"snr": bins["snr"], "c50": bins["c50"]}}
