"""Voice activity: where each clip has speech, from a pyannote.audio segmentation model.

Per clip: the speech regions, speech duration, leading and trailing silence, and overlapped speech (two or
more speakers at once). The attribute stage reads them (the `voice_activity` extractor): speaking rate per
second of speech, not per second of clip.

pyannote.audio cannot share the main environment (it pulls torchaudio), so the detection itself
(destaflow.vad.detect) runs in the `pyannote` environment (destaflow.isolated_env); this module is what the
main environment calls. Settings: the config's `attributes.vad` (schemas/config.schema.yaml has the defaults).
"""

from __future__ import annotations

import json
from typing import Any

from destaflow.isolated_env import run_in_env


def detect_voice_activity(corpus_manifest: str, out_table: str, out_quarantine: str, settings: dict[str, Any]) -> None:
    """Run destaflow.vad.detect on every clip of a corpus manifest, in the pyannote environment."""
    run_in_env("pyannote", "destaflow.vad.detect", [corpus_manifest, out_table, out_quarantine, "--settings", json.dumps(settings)])
