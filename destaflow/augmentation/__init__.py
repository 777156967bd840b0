"""DeSTA2's "mixed noise & reverb" subset: clean clips from other corpora with room reverberation and/or
noise added, labelled with their true SNR, C50 and RT60 (exact by construction, so provenance `label`).

`augment_corpus` is the entry point; `plan_clips` and `render_clip` expose each clip's parts for checking.
"""

from destaflow.augmentation.corpus import RenderedClip, augment_corpus, render_clip
from destaflow.augmentation.plan import ClipPlan, plan_clips, read_sources
from destaflow.augmentation.settings import NOISE_TYPES, AugmentSettings, parse_settings

__all__ = [
    "NOISE_TYPES",
    "AugmentSettings",
    "ClipPlan",
    "RenderedClip",
    "augment_corpus",
    "parse_settings",
    "plan_clips",
    "read_sources",
    "render_clip",
]
