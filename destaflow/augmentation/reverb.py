"""Room impulse responses (simulated shoebox rooms or RIR files), reverberation, and the RIR's C50 and RT60."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from destaflow.audio import TARGET_RATE, AudioError, load_audio
from destaflow.augmentation.settings import Range, RoomRanges

SPEED_OF_SOUND = 343.0  # m/s, pyroomacoustics' default, so Sabine feasibility here matches its inverse_sabine
WALL_MARGIN_M = 0.5
DIRECT_PATH_LEAD_S = 0.001  # kept before the direct-path peak: the main lobe of the simulator's fractional delay
EARLY_WINDOW_S = 0.05
RT60_FIT_DB = (-5.0, -25.0)  # T20: the Schroeder curve is fitted from -5 to -25 dB and extrapolated to -60 dB
NOISE_FLOOR_MARGIN_DB = 10.0


@dataclass(frozen=True)
class RoomPlan:
    dims_m: tuple[float, float, float]
    rt60_target_s: float
    mic_m: tuple[float, float, float]
    source_m: tuple[float, float, float]

    @property
    def distance_m(self) -> float:
        return math.dist(self.mic_m, self.source_m)


@dataclass(frozen=True)
class ReverbPlan:
    room: RoomPlan | None = None
    rir_file: str | None = None

    @property
    def kind(self) -> str:
        return "room" if self.room is not None else "file"


def list_rir_files(rir_dir: str | Path) -> list[str]:
    files = sorted(str(path) for path in Path(rir_dir).rglob("*.wav"))
    if not files:
        raise ValueError(f"augment.rir_dir {rir_dir} holds no .wav files")
    return files


def sabine_absorption(dims_m: tuple[float, float, float], rt60_s: float) -> float:
    length, width, height = dims_m
    volume = length * width * height
    surface = 2 * (length * width + length * height + width * height)
    return 24 * math.log(10) * volume / (SPEED_OF_SOUND * surface * rt60_s)


def draw_room(rng: np.random.Generator, ranges: RoomRanges, attempts: int = 100) -> RoomPlan:
    """A room whose walls can absorb enough for the drawn RT60 (Sabine), with a mic and a source in it."""
    for _ in range(attempts):
        dims = (_uniform(rng, ranges.length_m), _uniform(rng, ranges.width_m), _uniform(rng, ranges.height_m))
        rt60 = _uniform(rng, ranges.rt60_s)
        if sabine_absorption(dims, rt60) <= 1.0:
            mic, source = _place(rng, dims, _uniform(rng, ranges.distance_m))
            return RoomPlan(dims, rt60, mic, source)
    raise ValueError("augment.room: the rooms drawn are too large for the RT60 range (Sabine absorption > 1)")


def _uniform(rng: np.random.Generator, span: Range) -> float:
    return round(float(rng.uniform(span.low, span.high)), 3)


def _place(rng: np.random.Generator, dims: tuple[float, ...], distance: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mic anywhere inside the wall margins; source `distance` away horizontally, shortened if no direction fits."""
    margins = [min(WALL_MARGIN_M, side / 4) for side in dims]
    mic = np.array([rng.uniform(m, side - m) for m, side in zip(margins, dims)])
    best_direction, best_reach = None, -1.0
    for _ in range(20):
        azimuth = rng.uniform(0, 2 * math.pi)
        direction = np.array([math.cos(azimuth), math.sin(azimuth), 0.0])
        reach = _reach(mic, direction, dims, margins)
        if reach > best_reach:
            best_direction, best_reach = direction, reach
        if reach >= distance:
            break
    source = mic + best_direction * min(distance, best_reach)
    return tuple(round(float(x), 3) for x in mic), tuple(round(float(x), 3) for x in source)


def _reach(start: np.ndarray, direction: np.ndarray, dims: tuple[float, ...], margins: list[float]) -> float:
    """How far one can go from `start` along `direction` before crossing a wall margin."""
    limits = []
    for position, step, side, margin in zip(start, direction, dims, margins):
        if step > 1e-12:
            limits.append((side - margin - position) / step)
        elif step < -1e-12:
            limits.append((margin - position) / step)
    return max(0.0, min(limits))


def simulate_room(room: RoomPlan, rate: int = TARGET_RATE) -> np.ndarray:
    """Image-source RIR of a shoebox whose uniform absorption gives the target RT60 by inverse Sabine."""
    import pyroomacoustics as pra  # heavy import, needed only when rooms are simulated

    absorption, max_order = pra.inverse_sabine(room.rt60_target_s, list(room.dims_m))
    shoebox = pra.ShoeBox(list(room.dims_m), fs=rate, materials=pra.Material(absorption), max_order=max_order)
    shoebox.add_source(list(room.source_m))
    shoebox.add_microphone(list(room.mic_m))
    shoebox.compute_rir()
    return np.asarray(shoebox.rir[0][0], dtype=np.float64)


def build_rir(plan: ReverbPlan) -> np.ndarray:
    """The plan's RIR, starting just before its direct-path peak so the speech is not delayed."""
    if plan.room is not None:
        return align_to_direct_path(simulate_room(plan.room))
    try:
        rir = load_audio(plan.rir_file).samples.astype(np.float64)
    except AudioError as error:
        raise AudioError(f"rir file {plan.rir_file}: {error}") from None
    return align_to_direct_path(rir)


def align_to_direct_path(rir: np.ndarray, rate: int = TARGET_RATE) -> np.ndarray:
    start = max(0, int(np.argmax(np.abs(rir))) - round(DIRECT_PATH_LEAD_S * rate))
    return rir[start:]


def apply_reverb(dry: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve, keep the dry clip's length and timeline, and restore the dry clip's RMS level."""
    wet = fftconvolve(dry, rir)[: len(dry)]
    wet_rms = _rms(wet)
    if wet_rms == 0.0:
        raise AudioError("reverberant speech is silent")
    return wet * (_rms(dry) / wet_rms)


def clarity_db(rir: np.ndarray, rate: int = TARGET_RATE, early_s: float = EARLY_WINDOW_S) -> float | None:
    """C50: energy in the first 50 ms from the direct-path peak over the energy after it, in dB."""
    energy = np.square(rir[int(np.argmax(np.abs(rir))) :])
    split = round(early_s * rate)
    early, late = float(energy[:split].sum()), float(energy[split:].sum())
    if late == 0.0:
        return None
    return 10 * math.log10(early / late)


def reverberation_time_s(rir: np.ndarray, rate: int = TARGET_RATE, fit_db: tuple[float, float] = RT60_FIT_DB) -> float | None:
    """RT60 from Schroeder backward integration of the RIR above its noise floor, fitted over `fit_db`."""
    energy = np.square(rir[int(np.argmax(np.abs(rir))) :])
    energy = energy[: _end_above_noise_floor(energy, rate)]
    remaining = np.cumsum(energy[::-1])[::-1]
    decay_db = 10 * np.log10(np.maximum(remaining / remaining[0], 1e-300))
    upper, lower = fit_db
    if decay_db[-1] > lower:
        return None  # the RIR does not decay far enough for this fit
    first, last = int(np.argmax(decay_db <= upper)), int(np.argmax(decay_db <= lower))
    if last - first < 2:
        return None
    slope_db_per_s = np.polyfit(np.arange(first, last) / rate, decay_db[first:last], 1)[0]
    return -60.0 / slope_db_per_s if slope_db_per_s < 0 else None


def _end_above_noise_floor(energy: np.ndarray, rate: int) -> int:
    """Samples before the 10 ms energy envelope sinks to within 10 dB of the last tenth's mean (a noise floor)."""
    block = max(1, round(0.01 * rate))
    blocks = len(energy) // block
    if blocks < 10:
        return len(energy)
    levels = energy[: blocks * block].reshape(blocks, block).mean(axis=1)
    floor = levels[-(blocks // 10) :].mean()
    above = np.nonzero(levels > floor * 10 ** (NOISE_FLOOR_MARGIN_DB / 10))[0]
    return int(above[-1] + 1) * block if above.size else len(energy)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))
