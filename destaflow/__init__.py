"""destaflow: a DeSTA2-style speech-language-model workflow (data construction, adapter training, scoring).

The package holds all real logic; Snakemake rules only call into it through thin scripts.
"""

__version__ = "0.1.0"
