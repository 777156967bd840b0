"""Model importers and preparation: every backbone ends up as a Hugging Face folder under resources/models/."""
