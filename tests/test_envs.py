"""Per-rule conda environments: every rule has one, they are pinned, and they hold what the rule imports."""

import ast
import functools
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from destaflow.isolated_env import ENVIRONMENTS, EnvironmentMissing, interpreter

ROOT = Path(__file__).resolve().parent.parent
RULE_BLOCK = re.compile(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)+)", re.MULTILINE)
DIRECTIVE = re.compile(r"^    (conda|script):\n\s+\"([^\"]+)\"", re.MULTILINE)
ALLOWED_CHANNELS = {"conda-forge", "bioconda", "nodefaults"}


def rules():
    found = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for name, body in RULE_BLOCK.findall(smk.read_text()):
            directives = dict(DIRECTIVE.findall(body))
            found[name] = {k: (smk.parent / v).resolve() for k, v in directives.items()}
    return found


def env_packages(env_file: Path) -> dict[str, str]:
    """Distribution name (normalised) -> pinned version, over conda and pip dependencies."""
    spec = yaml.safe_load(env_file.read_text())
    packages = {}
    for dep in spec["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            name, _, version = re.split(r"(==|=)", entry, maxsplit=1) if "=" in entry else (entry, "", "")
            packages[normalise(name)] = version
    return packages


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def module_file(module: str) -> Path | None:
    base = ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def third_party_imports(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Top-level third-party modules imported by `path` and, transitively, by the destaflow modules it uses."""
    seen = seen if seen is not None else set()
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "destaflow":
                target = module_file(name)
                if target is not None:
                    found |= third_party_imports(target, seen)
            elif top not in sys.stdlib_module_names:
                found.add(top)
    return found


@functools.cache
def installed_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # scans every installed distribution: once per session


UNMAPPED = {"parselmouth": "praat-parselmouth"}
"""Modules that packages_distributions() cannot attribute (a single extension-module file, no top_level.txt)."""


def distributions_of(module: str) -> set[str]:
    return {normalise(d) for d in installed_distributions().get(module, [UNMAPPED.get(module, module)])}


ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
TARGET_RULES = {"all", "ablations", "brouhaha"}  # only name what to build; nothing runs in them


def test_every_rule_has_an_existing_env_and_script():
    found = rules()
    assert found, "no rules parsed"
    for name, directives in found.items():
        if name in TARGET_RULES:
            continue
        assert "conda" in directives, f"rule {name} has no conda: env"
        assert directives["conda"].exists(), f"rule {name}: {directives['conda']} does not exist"
        assert "script" in directives and directives["script"].exists(), f"rule {name}: script missing"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_is_pinned_and_safe(env_file):
    spec = yaml.safe_load(env_file.read_text())
    assert set(spec["channels"]) <= ALLOWED_CHANNELS
    packages = env_packages(env_file)
    unpinned = [name for name, version in packages.items() if not version and name not in ("pip",)]
    assert not unpinned, f"{env_file.name}: unpinned {unpinned}"
    if env_file.stem in ENVIRONMENTS:  # an environment of its own (destaflow.isolated_env): a matched torch/torchaudio pair
        assert packages.get("torchaudio", "").rsplit(".", 1)[0] == packages["torch"].rsplit(".", 1)[0]
        return
    assert "torchaudio" not in packages, "torchaudio breaks transformers beside torch 2.13"
    if "torch" in packages:
        assert packages["torch"] == "2.13.0"


def test_each_rule_env_holds_what_its_script_imports():
    problems = []
    for name, directives in rules().items():
        if name in TARGET_RULES:
            continue
        available = set(env_packages(directives["conda"]))
        for module in sorted(third_party_imports(directives["script"])):
            if not distributions_of(module) & available:
                problems.append(f"rule {name}: {module} ({', '.join(distributions_of(module))}) not in {directives['conda'].name}")
    assert not problems, "\n".join(problems)


def test_main_environment_imports_transformers_and_peft_and_has_no_torchaudio():
    probe = "import importlib.util, peft, transformers, torch; assert importlib.util.find_spec('torchaudio') is None; print(torch.__version__)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("2.13.0")


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_own_environment_imports_its_package_and_the_library(name):
    try:
        python = interpreter(name)
    except EnvironmentMissing as error:
        pytest.skip(str(error))
    modules = {"pyannote": "destaflow.vad.detect, destaflow.brouhaha.train, destaflow.brouhaha.model, destaflow.brouhaha.predict"}[name]
    probe = f"import warnings; warnings.simplefilter('ignore'); import {ENVIRONMENTS[name]}, {modules}"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
