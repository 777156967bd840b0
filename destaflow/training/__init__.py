"""Adapter training: a frozen-encoder cache, batches, and the loop that trains only the connector.

    cache.py        tapped Whisper encoder states, computed once per clip, fp16 safetensors shards + index
    data.py         training examples and the collate: SpeechLM token batch + padded taps + frame mask
    loop.py         train_adapter(): the model, one optimiser step (accumulation, DDP), the epoch loop
    settings.py     the settings (the schema's defaults), warm-up + cosine schedule, seeded data order
    runlog.py       log.csv, valid.csv, probe.csv, samples.jsonl (+ TensorBoard), cut back on resume
    checkpoint.py   the resumable training state (the adapter folder is destaflow.models.adapter's)
    distributed.py  torchrun environment -> process group, device, all-reduce helpers
    launch.py       the rule's entry point: run folder, training in this process (or torchrun's N), publishing;
                    entry.py is the command line each training process runs
    lora.py         optional LoRA on the LLM for the finetuning stage, and starting from a trained adapter
"""
