"""Attribute extraction: corpus labels first, then DSP measurements and specialist models, then bins -> words."""
