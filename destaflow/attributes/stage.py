"""The attribute stage as a whole: corpus manifest in, attributes manifest and quarantine out."""

from __future__ import annotations

import logging
from typing import Any

from destaflow import manifest
from destaflow.attributes.extract import build_extractor, extract_attributes
from destaflow.quarantine import write_quarantine

log = logging.getLogger(__name__)


def run_stage(
    corpus_manifest: str,
    extractor_names: list[str],
    settings: dict[str, Any],
    model_dirs: dict[str, str],
    out_manifest: str,
    out_quarantine: str,
) -> None:
    table = manifest.read(corpus_manifest, "corpus")
    extractors = [build_extractor(name, settings, model_dirs) for name in extractor_names]
    log.info("extractors: %s", ", ".join(e.name for e in extractors))
    result, quarantine = extract_attributes(table, extractors, settings["batch_size"], settings["bins"])
    log.info("%d clips in, %d kept, %d quarantined", table.height, result.height, quarantine.height)
    if result.height + quarantine.height != table.height:
        raise RuntimeError(f"lost clips: {table.height} in, {result.height} kept + {quarantine.height} quarantined")
    write_quarantine(quarantine, out_quarantine)
    manifest.write(result, out_manifest, "attributes")
