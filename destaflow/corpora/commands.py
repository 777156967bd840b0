"""Command-line synthesizers the demo corpora call (espeak-ng, Festival)."""

from __future__ import annotations

import shutil


def require_command(command: str, apt_packages: str, error: type[Exception] = RuntimeError) -> str:
    """The path of `command`, or `error` naming the Debian packages that install it."""
    path = shutil.which(command)
    if path is None:
        raise error(f"{command} is not installed; on Debian/Ubuntu run: sudo apt-get install -y {apt_packages} (bin/setup does)")
    return path
