# In-domain finetuning (paper Table IV): instruction set from the training voices' labels, then the
# adapter and a LoRA on the LLM, starting from the caption-trained adapter or from scratch ("FT-only").


rule build_instruction_set:
    input:
        manifests=expand("results/attributes/{corpus}.parquet", corpus=CORPORA),
        transcripts=expand("results/transcripts/{corpus}.parquet", corpus=CORPORA),
    output:
        splits=expand("results/instructions/{split}.parquet", split=["train", "valid", "test"]),
        summary="results/instructions/summary.csv",
    params:
        tasks=config["finetune"]["tasks"],
        seed=config["finetune"]["seed"],
        balance=config["finetune"]["balance"],
        max_per_task=config["finetune"]["max_per_task"],
        out_dir=lambda wildcards, output: os.path.dirname(output.summary),
    priority: TRAINING_CHAIN
    threads: CHAIN_THREADS
    log:
        "logs/build_instruction_set/instructions.log",
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/build_instruction_set.py"


rule finetune_adapter:
    input:
        unpack(finetune_inputs),
        train="results/instructions/train.parquet",
        valid="results/instructions/valid.parquet",
        whisper="resources/models/whisper",
        llm="resources/models/llm",
    output:
        directory("results/finetuned"),
    params:
        settings=lambda wildcards, input: finetune_training_settings(input),
        run_dir="results/runs/finetuned",
    priority: TRAINING_CHAIN
    log:
        "logs/finetune_adapter/finetune_adapter.log",
    benchmark:
        "benchmarks/finetune_adapter/finetune_adapter.tsv"
    threads: CHAIN_THREADS
    resources:
        mem_mb=16000,
        runtime=720,
    conda:
        "../envs/train.yaml"
    script:
        "../scripts/train_adapter.py"
