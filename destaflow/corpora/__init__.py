"""Corpus readers: each turns a corpus in its distributed layout into a `corpus`-stage manifest."""
