import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from conftest import espeak_clips
from destaflow import manifest
from destaflow.augmentation import augment_corpus, parse_settings, plan_clips, read_sources, render_clip
from destaflow.augmentation.noise import snr_db
from destaflow.augmentation.reverb import clarity_db, reverberation_time_s

VOICES = {"en-us+f2": "train", "en-us+m3": "train", "en-us+f4": "test", "en-us+m2": "test"}
SENTENCES = ["The quick brown fox jumps.", "Rain is expected tomorrow."]
RATE = 16_000


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[str]:
    """8 espeak-ng clips of 4 speakers in two splits, plus a second manifest whose one clip is unreadable."""
    root = tmp_path_factory.mktemp("sources")
    clips = espeak_clips(root, VOICES, SENTENCES, peak=0.9)  # loud, so mixes need the headroom gain
    rows = [_source_row(f"tiny-{c['voice']}-{c['index']}", c["path"], c["voice"], c["split"], c["text"], c["duration"]) for c in clips]
    broken = root / "broken.wav"
    broken.write_bytes(b"not audio at all")
    paths = [str(root / "tiny.parquet"), str(root / "broken.parquet")]
    manifest.write(pl.DataFrame(rows), paths[0], "corpus")
    manifest.write(pl.DataFrame([_source_row("broken-0", broken, "nobody", "train", "lost", 1.0)]), paths[1], "corpus")
    return paths


def _source_row(clip_id: str, path: Path, speaker: str, split: str, text: str, duration: float) -> dict:
    gender = "female" if "+f" in speaker else "male"
    return {
        "id": clip_id, "corpus": "tiny", "audio_path": str(path), "speaker": speaker, "split": split,
        "sample_rate": 22050, "duration": duration, "duration_source": "dsp:sample-count",
        "gender": gender, "gender_source": "label", "text": text, "text_source": "label",
        "volume": "loud", "volume_source": "label",
    }  # fmt: skip


@pytest.fixture(scope="module")
def noise_dir(tmp_path_factory) -> Path:
    """A MUSAN-layout folder: noise/free-sound/noise-free-sound-000N.wav (one at 8 kHz, resampled on load)."""
    root = tmp_path_factory.mktemp("musan")
    folder = root / "noise" / "free-sound"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    hum = np.sin(2 * np.pi * 120 * np.arange(RATE // 2) / RATE) + 0.1 * rng.standard_normal(RATE // 2)
    sf.write(folder / "noise-free-sound-0000.wav", 0.3 * hum, RATE)
    sf.write(folder / "noise-free-sound-0001.wav", 0.2 * rng.standard_normal(4000), 8000)
    return root


@pytest.fixture(scope="module")
def settings(noise_dir) -> dict:
    return {
        "name": "augmented", "clips": 8, "seed": 3, "snr_db": [-5, 20],
        "noise_types": ["white", "pink", "babble", "file"], "noise_dir": str(noise_dir), "babble_speakers": [1, 2],
        "reverb_probability": 0.5, "noise_probability": 1.0, "rir_dir": None,
        "room": {"length_m": [5, 6], "width_m": [4, 5], "height_m": [2.8, 3.2], "rt60_s": [0.3, 0.5], "distance_m": [1, 2]},
    }  # fmt: skip


def _run(sources, settings, out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    augment_corpus(sources, settings, str(out / "audio"), str(out / "augmented.parquet"), str(out / "quarantine.parquet"))
    return pl.read_parquet(out / "augmented.parquet"), pl.read_parquet(out / "quarantine.parquet")


@pytest.fixture(scope="module")
def augmented(sources, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("augmented")
    table, quarantine = _run(sources, settings, out)
    snapshot = {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}
    return table, quarantine, out, snapshot


def test_counts_add_up_and_the_unreadable_source_is_quarantined(augmented):
    table, quarantine, _, _ = augmented
    manifest.validate(table, "corpus")
    assert table.height + quarantine.height == 8
    assert quarantine.rows(named=True) == [
        {"id": "aug-broken-0", "audio_path": quarantine["audio_path"][0], "stage": "augment", "reason": quarantine["reason"][0]}
    ]
    assert quarantine["reason"][0].startswith("source: undecodable")


def test_every_noise_type_occurs_and_file_noise_comes_from_the_musan_folder(augmented, noise_dir):
    table = augmented[0]
    assert set(table["noise_type"].drop_nulls()) == {"white", "pink", "babble", "file"}
    for path in table.filter(pl.col("noise_type") == "file")["noise_file"]:
        assert Path(path).parent == noise_dir / "noise" / "free-sound"


def test_recorded_snr_is_the_snr_of_the_written_components(augmented, sources, settings):
    table = augmented[0]
    recorded = dict(zip(table["id"], table["snr_db"]))
    checked = 0
    for plan in plan_clips(read_sources(sources), parse_settings(settings)):
        if plan.id not in recorded or plan.noise is None:
            continue
        clip = render_clip(plan)
        assert snr_db(clip.speech, clip.noise) == pytest.approx(recorded[plan.id], abs=0.1)
        assert np.allclose(clip.speech + clip.noise, clip.mix)
        written, _ = sf.read(table.filter(pl.col("id") == plan.id)["audio_path"][0])
        assert np.max(np.abs(written - clip.mix)) <= 1.5 / 32768  # 16-bit rounding only
        checked += 1
    assert checked == table["snr_db"].drop_nulls().len() >= 4


def test_c50_and_rt60_of_an_exponential_decay_match_the_analytic_values():
    rir, expected_c50 = _exponential_rir(rt60_s=0.4)
    assert clarity_db(rir) == pytest.approx(expected_c50, abs=1e-6)
    assert reverberation_time_s(rir) == pytest.approx(0.4, rel=0.02)


def _exponential_rir(rt60_s: float, seconds: float = 1.0) -> tuple[np.ndarray, float]:
    """Random-sign taps whose amplitude falls 60 dB in rt60_s; returns the RIR and its C50 in closed form."""
    decay = 10 ** (-3 / (rt60_s * RATE))  # per-sample amplitude factor
    length, early = int(seconds * RATE), int(0.05 * RATE)
    signs = np.where(np.random.default_rng(1).random(length) < 0.5, -1.0, 1.0)
    signs[0] = 1.0
    rir = signs * decay ** np.arange(length)
    power = decay**2  # sum of power**n over [a, b) is (power**a - power**b) / (1 - power)
    return rir, 10 * math.log10((1 - power**early) / (power**early - power**length))


def test_c50_and_rt60_recorded_for_a_file_rir(sources, settings, tmp_path):
    rir, expected_c50 = _exponential_rir(rt60_s=0.3)
    (tmp_path / "rirs").mkdir()
    sf.write(tmp_path / "rirs" / "decay.wav", rir, RATE, subtype="FLOAT")
    file_settings = {**settings, "clips": 2, "reverb_probability": 1.0, "noise_probability": 0.0, "rir_dir": str(tmp_path / "rirs")}
    table, _ = _run(sources[:1], file_settings, tmp_path / "out")
    assert set(table["reverb_type"]) == {"file"} and table["snr_db"].null_count() == 2
    assert table["c50_db"].to_list() == pytest.approx([expected_c50] * 2, abs=0.01)
    assert table["rt60_s"].to_list() == pytest.approx([0.3] * 2, rel=0.02)


def test_rt60_measured_in_simulated_rooms_is_near_the_target(augmented):
    rooms = augmented[0].filter(pl.col("reverb_type") == "room")
    assert rooms.height >= 1
    for measured, target in rooms.select("rt60_s", "room_rt60_target_s").iter_rows():
        assert measured == pytest.approx(target, rel=0.2)
    assert set(rooms["c50_db_source"]) == set(rooms["rt60_s_source"]) == {"label"}


def test_speakers_keep_their_split_and_labels_carry_over_without_volume(augmented, sources):
    table = augmented[0]
    source = pl.read_parquet(sources[0]).select("id", "speaker", "split", "gender", "text")
    joined = table.join(source, left_on="source_id", right_on="id", suffix="_src")
    assert joined.height == table.height
    for column in ("speaker", "split", "gender", "text"):
        assert joined[column].to_list() == joined[f"{column}_src"].to_list()
    assert "volume" not in table.columns and "volume_source" not in table.columns
    assert all(Path(path).parent.name == split for path, split in table.select("audio_path", "split").iter_rows())


def test_no_sample_reaches_full_scale_and_loud_mixes_were_scaled_down(augmented):
    table = augmented[0]
    for path in table["audio_path"]:
        samples, rate = sf.read(path, dtype="int16")
        assert rate == RATE and np.max(np.abs(samples.astype(np.int32))) < 32767
    assert table["mix_gain_db"].min() < 0 and table["mix_gain_db"].max() <= 0


def test_a_second_run_writes_identical_bytes(augmented, sources, settings):
    _, _, out, snapshot = augmented
    _run(sources, settings, out)
    assert {path: path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()} == snapshot


@pytest.mark.parametrize(
    "change, message",
    [({"colour": 1}, "unknown augment setting"), ({"noise_dir": None}, "noise_dir is null"), ({"snr_db": [9, 1]}, "low > high")],
)
def test_bad_settings_are_named(settings, change, message):
    with pytest.raises(ValueError, match=message):
        parse_settings({**settings, **change})
