"""Builders of tiny corpora in their real distributed layouts (synthesized audio, real naming)."""
