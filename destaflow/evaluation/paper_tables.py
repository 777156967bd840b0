"""The DeSTA2 paper's published numbers (arXiv 2409.20007), shown beside ours in the report, labelled as the paper's."""

from __future__ import annotations

DIMENSIONS = ("CON", "SEM", "PAR", "DEG", "SPK", "ALL")

# Table I: Dynamic-SUPERB accuracy (%) per dimension; our system names where we have a counterpart.
TABLE_I = {
    "ASR + Llama3 (cascade)": ("asr_llm", (71.45, 51.52, 15.07, 36.00, 41.70, 43.59)),
    "Specialized models + Llama3 (cascade)": ("specialist_llm", (82.32, 63.08, 25.71, 59.61, 40.50, 58.31)),
    "Qwen2-Audio": (None, (77.64, 59.17, 29.21, 43.58, 47.90, 51.69)),
    "DeSTA2": ("desta2", (79.41, 59.42, 43.14, 51.63, 42.50, 56.78)),
}

# Table III: data-construction ablations (same metadata, same model).
TABLE_III = {
    "DeSTA-style captions": ("ablation_desta_caption", (4.23, 9.25, 14.86, 7.34, 0.40, 7.24)),
    "seed transcript itself as target": ("ablation_seed_target", (63.50, 49.92, 27.50, 18.03, 11.40, 33.13)),
    "Open QA (3 pairs per clip)": ("ablation_open_qa_3", (64.95, 51.75, 22.86, 54.03, 40.90, 50.33)),
    "Open QA (1 pair per clip)": ("ablation_open_qa_1", (77.27, 53.83, 23.07, 46.50, 41.80, 50.56)),
    "DeSTA2 (What can you hear from the audio?)": ("desta2", (79.41, 59.42, 43.14, 51.63, 42.50, 56.78)),
}

# Table IV: after in-domain finetuning (LoRA rank 8).
TABLE_IV = {
    "FT-only (adapter from scratch on the in-domain set)": (None, (92.23, 68.92, 53.14, 67.87, 62.40, 70.86)),
    "DeSTA2 (caption-trained then finetuned)": ("desta2_finetuned", (96.00, 71.75, 56.86, 70.26, 70.80, 74.45)),
}

AIR_BENCH_CHAT_SPEECH = {"ASR + Llama3 (cascade)": 7.01, "DeSTA2": 7.16}
