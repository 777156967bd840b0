"""Work that must run in its own Python environment: the one mechanism for packages that cannot share the main one.

pyannote.audio pulls torchaudio, which breaks transformers and peft beside torch 2.13, so it never enters the
main environment. A stage that needs such a package runs `python -m <module> <args>` with the interpreter of
the environment that holds it:

- `DESTAFLOW_<NAME>_PYTHON`, when set, names the interpreter;
- else on a cluster (`--sdm conda`) the rule's own conda env (envs/<name>.yaml) already holds the package, so
  the current interpreter is that one;
- else, locally, `bin/setup` builds `.venvs/<name>` beside `.venv` and that interpreter is used.

Only files pass between the two processes (the child reads and writes parquet); its log lines go to the same
log file as the parent's.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ENVIRONMENTS: dict[str, str] = {"pyannote": "pyannote.audio"}
"""Environment name -> the module that tells whether an interpreter holds it."""

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class EnvironmentMissing(RuntimeError):
    pass


def _imports(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def local_env_dirs(name: str) -> list[Path]:
    """Where `bin/setup` puts the environment: `.venvs/<name>` of the working directory or of the checkout."""
    return list(dict.fromkeys([Path.cwd() / ".venvs" / name, PACKAGE_ROOT / ".venvs" / name]))


def interpreter(name: str) -> str:
    """The Python that holds environment `name`."""
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(ENVIRONMENTS)}")
    override = os.environ.get(f"DESTAFLOW_{name.upper()}_PYTHON")
    if override:
        return override
    if _imports(ENVIRONMENTS[name]):
        return sys.executable
    for folder in local_env_dirs(name):
        python = folder / "bin" / "python"
        if python.exists():
            return str(python)
    raise EnvironmentMissing(
        f"no Python with {ENVIRONMENTS[name]} for this stage: run bin/setup (it builds .venvs/{name}), run "
        f"snakemake with --sdm conda (envs/{name}.yaml), or set DESTAFLOW_{name.upper()}_PYTHON"
    )


def run_in_env(name: str, module: str, args: list[str]) -> None:
    """Run `python -m module *args` in environment `name`; raise with its exit status when it fails."""
    command = [interpreter(name), "-P", "-m", module, *args]  # -P: the library comes from PYTHONPATH, not the working directory
    log.info("running in the %s environment: %s", name, " ".join(command))
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    sys.stderr.flush()
    output = sys.stderr if _has_descriptor(sys.stderr) else None  # the job's log file, or the terminal
    result = subprocess.run(command, env=env, stdout=output, stderr=output)
    if result.returncode != 0:
        raise RuntimeError(f"{module} failed in the {name} environment (exit status {result.returncode}); its log is above")


def _has_descriptor(stream) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):
        return False
