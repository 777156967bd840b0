"""CTranslate2's `model.bin` format: its variables by name, read from one file or from parts back to back,
and de-quantised to float32 (destaflow.models.ctranslate2_whisper renames them to Hugging Face's layout)."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import BinaryIO, Iterable

import numpy as np

BINARY_VERSION = 6
WHISPER_SPEC = "WhisperSpec"

_NUMPY_DTYPES: dict[int, type[np.generic]] = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
}
_BFLOAT16 = 5
_SCALE_SUFFIX = "_scale"


class CTranslate2FormatError(ValueError):
    """model.bin (or its parts) is not a complete CTranslate2 Whisper model this converter understands."""


# --------------------------------------------------------------------------------------------------
# model.bin parsing
# --------------------------------------------------------------------------------------------------


class _ModelBinReader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.offset = 0

    def exact(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) != size:
            raise CTranslate2FormatError(
                f"model.bin ends early: wanted {size} bytes at offset {self.offset}, got {len(data)} "
                "(a part is missing, truncated or out of order)"
            )
        self.offset += size
        return data

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.exact(struct.calcsize("<" + fmt)))

    def uint8(self) -> int:
        return self.unpack("B")[0]

    def uint32(self) -> int:
        return self.unpack("I")[0]

    def string(self) -> str:
        (length,) = self.unpack("H")
        return self.exact(length).rstrip(b"\0").decode("utf-8")

    def at_end(self) -> bool:
        return self._stream.read(1) == b""


def read_model_bin(source: BinaryIO | str | os.PathLike, expected_spec: str | None = WHISPER_SPEC) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 `model.bin`, by name, aliases included (sharing the target's array).

    Arrays keep their stored dtype (quantised weights stay integers next to their `*_scale`),
    except bfloat16, which numpy lacks and is widened to float32.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            return read_model_bin(stream, expected_spec)
    reader = _ModelBinReader(source)
    _read_header(reader, expected_spec)
    variables = {}
    for _ in range(reader.uint32()):
        name, array = _read_variable(reader)
        variables[name] = array
    for _ in range(reader.uint32()):
        alias, target = reader.string(), reader.string()
        if target not in variables:
            raise CTranslate2FormatError(f"alias {alias!r} points at unknown variable {target!r}")
        variables[alias] = variables[target]
        if target + _SCALE_SUFFIX in variables:  # an alias of a quantised weight shares its scale too
            variables[alias + _SCALE_SUFFIX] = variables[target + _SCALE_SUFFIX]
    if not reader.at_end():
        raise CTranslate2FormatError(f"unexpected data after the last alias at offset {reader.offset} (an extra part?)")
    return variables


def _read_header(reader: _ModelBinReader, expected_spec: str | None) -> None:
    version = reader.uint32()
    if version != BINARY_VERSION:
        raise CTranslate2FormatError(f"unsupported CTranslate2 binary version {version} (expected {BINARY_VERSION})")
    spec = reader.string()
    if expected_spec is not None and spec != expected_spec:
        raise CTranslate2FormatError(f"model.bin holds a {spec}, not a {expected_spec}")
    reader.uint32()  # spec revision: the variable names below are all we rely on


def _read_variable(reader: _ModelBinReader) -> tuple[str, np.ndarray]:
    name = reader.string()
    rank = reader.uint8()
    shape = reader.unpack("I" * rank)
    dtype_code = reader.uint8()
    raw = reader.exact(reader.uint32())
    return name, _decode_array(name, raw, dtype_code, shape)


def _decode_array(name: str, raw: bytes, dtype_code: int, shape: tuple[int, ...]) -> np.ndarray:
    if dtype_code == _BFLOAT16:
        halves = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32)
        array = (halves << 16).view(np.float32)
    elif dtype_code in _NUMPY_DTYPES:
        array = np.frombuffer(raw, dtype=_NUMPY_DTYPES[dtype_code])
    else:
        raise CTranslate2FormatError(f"variable {name!r} has unknown dtype code {dtype_code}")
    if array.size != int(np.prod(shape, dtype=np.int64)):
        raise CTranslate2FormatError(f"variable {name!r}: {array.size} values do not fill shape {shape}")
    return array.reshape(shape)


class _ConcatenatedFiles(io.RawIOBase):
    """Read several files back to back as one stream, without writing the joined copy to disk."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._pending = [Path(p) for p in paths]
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        while True:
            if self._current is None:
                if not self._pending:
                    return 0
                self._current = open(self._pending.pop(0), "rb")
            count = self._current.readinto(buffer)
            if count:
                return count
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        super().close()


def read_model_bin_parts(parts: list[Path]) -> dict[str, np.ndarray]:
    if not parts:
        raise CTranslate2FormatError("no model.bin parts given")
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"model.bin part(s) not found: {', '.join(missing)}")
    with io.BufferedReader(_ConcatenatedFiles(parts), buffer_size=1 << 20) as stream:
        return read_model_bin(stream)


# --------------------------------------------------------------------------------------------------
# weights: de-quantised to float32
# --------------------------------------------------------------------------------------------------


def float_weights(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Tensor variables as float32, quantised ones multiplied back out; scalar settings are dropped."""
    weights = {}
    for name, array in variables.items():
        if array.ndim == 0 or name.endswith(_SCALE_SUFFIX):
            continue
        scale = variables.get(name + _SCALE_SUFFIX)
        if scale is not None:
            weights[name] = _dequantize(array, scale)
        elif np.issubdtype(array.dtype, np.floating):
            weights[name] = array.astype(np.float32)
        else:
            raise CTranslate2FormatError(
                f"variable {name!r} is {array.dtype} with no {name}{_SCALE_SUFFIX}; this quantisation is not supported"
            )
    return weights


def _dequantize(quantised: np.ndarray, scale: np.ndarray) -> np.ndarray:
    # CTranslate2 stores round(w * scale): int8 with one scale per output row, int16 with one global scale.
    scale = scale.astype(np.float32)
    if scale.ndim == 1:
        scale = scale.reshape((-1,) + (1,) * (quantised.ndim - 1))
    return quantised.astype(np.float32) / scale
