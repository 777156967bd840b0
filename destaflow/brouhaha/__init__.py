"""A brouhaha-style SNR / C50 / speech-activity model trained by the workflow with pyannote.audio's own API.

brouhaha's weights are only on the model hub, so the workflow trains its own on mixtures made like the
augmentation stage's (destaflow.augmentation.mixtures): rule `train_brouhaha` -> results/brouhaha/. The
voice-activity rule then runs it on every clip (snr_db, c50_db in its table) and the `brouhaha` extractor
turns its C50 into the attribute of clips their corpus does not label (its SNR measured worse than
learned_snr's, so it is recorded, not used). Model and training run in
the pyannote environment (destaflow.isolated_env); this module is what the main environment calls.
"""

from __future__ import annotations

import json
from typing import Any

from destaflow.isolated_env import run_in_env


def train_brouhaha(manifests: list[str], augment: dict[str, Any], settings: dict[str, Any], out_dir: str, work_dir: str) -> None:
    """Train on mixtures of the manifests' training clips, measure on their valid split's; save to out_dir."""
    job = {"manifests": list(manifests), "augment": augment, "settings": settings, "out_dir": out_dir, "work_dir": work_dir}
    run_in_env("pyannote", "destaflow.brouhaha.train", [json.dumps(job)])
