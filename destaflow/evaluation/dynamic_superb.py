"""Dynamic-SUPERB phase 1 items from local copies, in the benchmark's own format.

An instance folder is what a cluster user gets from the hub, either of:
    datasets.save_to_disk    <root>/<instance>/dataset_dict.json + test/ (or a bare Dataset folder)
    snapshot_download        <root>/<instance>/**/test-*.parquet (or any *.parquet)
Rows: {file, audio: {bytes, path}, [audio2], instruction, label, [text]}. `text` (the sentence to match,
the term to detect) is appended to the instruction as `Text: "..."`.

Two-audio instances (speaker verification, dialogue-act pairing) are given to a model either natively (two
audio turns) or as the baseline's single input: each clip padded or cut to 15 s, then concatenated.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from destaflow.audio import TARGET_RATE, AudioError, decode_audio, load_audio
from destaflow.evaluation.dynamic_superb_instances import DESTA2_48, INSTANCES
from destaflow.evaluation.rules import parse_options

AUDIO_COLUMNS = ("audio", "audio2")
TRUTH_COLUMNS = ("truth", "truth2")  # the demo benchmark's own columns: what each audio is, in exact labels (JSON)
TWO_AUDIO_MODES = ("concat", "native")
HALF_WINDOW_S = 15.0
INSTANCES_FILE = "instances.json"  # a benchmark's own instance list (the demo benchmark writes one)


@dataclass
class Item:
    id: str
    instance: str
    dimension: str
    instruction: str
    label: str
    options: list[str] | None
    audios: list[dict] = field(repr=False)  # {bytes, path} per audio column, decoded on demand
    folder: Path = field(repr=False, default=Path("."))
    truths: list[dict] | None = None  # what each audio is, in exact labels (only benchmarks this workflow builds)

    def decoded(self) -> list[np.ndarray]:
        return [decode_entry(entry, self.folder) for entry in self.audios]


def decode_entry(entry: dict, folder: Path) -> np.ndarray:
    """16 kHz mono samples of one dataset audio cell (embedded bytes, else its path under the folder)."""
    if entry.get("bytes"):
        return decode_audio(io.BytesIO(entry["bytes"])).samples
    if entry.get("path"):
        path = Path(entry["path"])
        return load_audio(path if path.is_absolute() else folder / path).samples
    raise AudioError("audio cell has neither bytes nor a path")


def entry_key(entry: dict) -> str:
    """A content key of one audio cell (its bytes, else its path): equal audio in several tasks is decoded once."""
    return hashlib.sha1(entry.get("bytes") or str(entry.get("path")).encode()).hexdigest()


def input_keys(item: Item, two_audio: str) -> list[str]:
    """One key per audio `model_inputs` returns (the concatenation of two audios is one input)."""
    keys = [entry_key(entry) for entry in item.audios]
    return ["+".join(keys)] if len(keys) > 1 and two_audio == "concat" else keys


def model_inputs(item: Item, two_audio: str) -> list[np.ndarray]:
    """The audios a model gets: as stored, or (concat mode, two audios) one 30 s input of two 15 s halves."""
    if two_audio not in TWO_AUDIO_MODES:
        raise ValueError(f"two_audio must be one of {', '.join(TWO_AUDIO_MODES)}, not {two_audio!r}")
    audios = item.decoded()
    if len(audios) < 2 or two_audio == "native":
        return audios
    half = int(HALF_WINDOW_S * TARGET_RATE)
    return [np.concatenate([np.pad(a[:half], (0, half - len(a[:half]))) for a in audios]).astype(np.float32)]


# ---- reading ------------------------------------------------------------------------------------------


def open_split(folder: Path, split: str = "test"):
    """The instance's split as a datasets.Dataset whose audio columns stay undecoded {bytes, path}."""
    import datasets

    if (folder / "dataset_dict.json").exists():
        dataset = datasets.load_from_disk(str(folder))[split]
    elif (folder / "state.json").exists():
        dataset = datasets.load_from_disk(str(folder))
    else:
        files = sorted(folder.rglob(f"{split}-*.parquet")) or sorted(folder.rglob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"{folder}: neither a saved dataset nor parquet files of split {split!r}")
        dataset = datasets.Dataset.from_parquet([str(f) for f in files], split=split)
    for column in AUDIO_COLUMNS:
        if column in dataset.column_names:
            dataset = dataset.cast_column(column, datasets.Audio(decode=False))
    return dataset


def instance_dimensions(root: Path, names: list[str] | str | None) -> dict[str, str]:
    """Instance name -> dimension (the benchmark's own instances.json, else the phase-1 table) of `names`:
    a list, "desta2_48", or None / "all" for every listed instance that has a folder under `root`."""
    listed = root / INSTANCES_FILE
    if listed.exists():
        known = {entry["name"]: entry["dimension"] for entry in json.loads(listed.read_text())}
    else:
        known = {name: instance.dimension for name, instance in INSTANCES.items()}
    if names in (None, "all"):  # the phase-1 instances present in the folder
        present = {name: dimension for name, dimension in known.items() if (root / name).is_dir()}
        if not present:
            raise FileNotFoundError(f"no Dynamic-SUPERB instance folder under {root}")
        return present
    if names == "desta2_48":
        names = DESTA2_48
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown Dynamic-SUPERB instance(s) {unknown} under {root}")
    return {name: known[name] for name in names}


def sampled_indices(count: int, max_per_instance: int | None, seed: int, instance: str) -> list[int]:
    """Seeded subsample (per instance, so adding an instance leaves the others' samples unchanged)."""
    if max_per_instance is None or count <= max_per_instance:
        return list(range(count))
    return sorted(random.Random(f"{seed}:{instance}").sample(range(count), max_per_instance))


def load_instance(root: str | Path, name: str, dimension: str, max_per_instance: int | None = None, seed: int = 0) -> list[Item]:
    folder = Path(root) / name
    if not folder.exists():
        raise FileNotFoundError(f"Dynamic-SUPERB instance {name} not found at {folder}")
    dataset = open_split(folder)
    missing = {"audio", "instruction", "label"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"{folder}: missing column(s) {sorted(missing)}")
    items = []
    for index in sampled_indices(len(dataset), max_per_instance, seed, name):
        row = dataset[index]
        instruction = str(row["instruction"]).strip()
        if row.get("text"):
            instruction = f'{instruction}\nText: "{row["text"]}"'
        audios = [row[column] for column in AUDIO_COLUMNS if row.get(column) is not None]
        truths = [row.get(column) for column in TRUTH_COLUMNS[: len(audios)]]
        items.append(Item(f"{name}/{index}", name, dimension, instruction, str(row["label"]), parse_options(instruction), audios, folder,
                          [json.loads(t) for t in truths] if all(truths) else None))
    return items


def load_benchmark(root: str | Path, names: list[str] | str | None = None, max_per_instance: int | None = None, seed: int = 0) -> list[Item]:
    root = Path(root)
    return [
        item
        for name, dimension in instance_dimensions(root, names).items()
        for item in load_instance(root, name, dimension, max_per_instance, seed)
    ]
