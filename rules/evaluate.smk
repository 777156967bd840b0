# Scoring (paper Tables I and IV): benchmarks in Dynamic-SUPERB's format, each system's answers, rule (and
# judge) scores per instance, and the report's dimension tables next to the paper's numbers.


wildcard_constraints:
    system="|".join(SYSTEM_KINDS),
    benchmark="|".join(EVALUATION["benchmarks"]),
    ifeval_set="|".join(EVALUATION["ifeval"]["sets"]),
    chat_set="|".join(EVALUATION["chat"]["sets"]),


rule build_demo_benchmark:
    input:
        manifests=expand("results/attributes/{corpus}.parquet", corpus=list(config["corpora"])),
    output:
        directory("results/benchmarks/demo"),
    params:
        tasks=config["evaluation"]["demo_benchmark"]["tasks"],
        seed=config["evaluation"]["demo_benchmark"]["seed"],
        per_speaker=config["evaluation"]["demo_benchmark"]["clips_per_speaker"],
        room=config_helpers.room_ranges(config),
        second_synthesizer_tasks=config["evaluation"]["demo_benchmark"]["second_synthesizer_tasks"],
    priority: TRAINING_CHAIN
    threads: CHAIN_THREADS
    log:
        "logs/build_demo_benchmark/build_demo_benchmark.log",
    benchmark:
        "benchmarks/build_demo_benchmark/build_demo_benchmark.tsv"
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/build_demo_benchmark.py"


rule benchmark_clips:
    input:
        benchmark=benchmark_dir,
    output:
        manifest=f"results/corpora/{BENCHMARK_CLIPS}{{benchmark}}.parquet",
        audio=directory(f"results/corpora/{BENCHMARK_CLIPS}{{benchmark}}"),
        quarantine="results/quarantine/benchmark_clips/{benchmark}.parquet",
    params:
        settings=lambda wildcards: benchmark_settings(wildcards.benchmark),
        corpus=lambda wildcards: f"{BENCHMARK_CLIPS}{wildcards.benchmark}",
    priority: TRAINING_CHAIN
    threads: CHAIN_THREADS
    log:
        "logs/benchmark_clips/{benchmark}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/benchmark_clips.py"


rule answer_benchmark:
    input:
        unpack(system_inputs),
        benchmark=benchmark_dir,
    output:
        "results/evaluation/{benchmark}/{system}/answers.parquet",
    params:
        kind=lambda wildcards: SYSTEM_KINDS[wildcards.system],
        endpoint=lambda wildcards: SERVED.get(wildcards.system),
        settings=lambda wildcards: benchmark_settings(wildcards.benchmark),
        llm_settings={"backend": config["caption"]["backend"], "endpoint": config["caption"]["endpoint"]},
        dtype=config["train"]["backbone_dtype"],
        # only seed_llm's answers depend on how seeds are written
        seed_settings=lambda wildcards: config_helpers.true_seed_settings(config) if SYSTEM_KINDS[wildcards.system] == "seed_llm" else None,
    log:
        "logs/answer_benchmark/{benchmark}-{system}.log",
    benchmark:
        "benchmarks/answer_benchmark/{benchmark}-{system}.tsv"
    threads: EVALUATION_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/answer_benchmark.py"


rule score_benchmark:
    input:
        "results/evaluation/{benchmark}/{system}/answers.parquet",
    output:
        scored="results/evaluation/{benchmark}/{system}/scored.parquet",
        summary="results/evaluation/{benchmark}/{system}/scores.csv",
    params:
        judge=config["evaluation"]["judge"],
        cache="results/evaluation/judge_cache/score_benchmark/{benchmark}-{system}.sqlite",
        max_per_instance=lambda wildcards: benchmark_settings(wildcards.benchmark)["max_per_instance"],
    log:
        "logs/score_benchmark/{benchmark}-{system}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/score_benchmark.py"


rule evaluation_report:
    input:
        lambda wildcards: expand("results/evaluation/{benchmark}/{system}/scores.csv", benchmark=wildcards.benchmark, system=benchmark_systems(wildcards.benchmark)),
    output:
        dimensions=report("results/report/{benchmark}_dimensions.csv", caption="../report/dimensions.rst", category="Scores", subcategory="{benchmark}"),
        instances=report("results/report/{benchmark}_instances.csv", caption="../report/instances.rst", category="Scores", subcategory="{benchmark}"),
        figure=report("results/report/{benchmark}_dimensions.svg", caption="../report/dimensions_figure.rst", category="Scores", subcategory="{benchmark}"),
    params:
        metric=config["evaluation"]["metric"],
    log:
        "logs/evaluation_report/{benchmark}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/evaluation_report.py"


# The report's first table: the headline tasks of the built demo benchmark for every system, with intervals and
# each system's instruction-following retention.
rule headline_report:
    input:
        unpack(headline_inputs),
    output:
        report("results/report/{benchmark}_headline.csv", caption="../report/headline.rst", category="Scores", subcategory="{benchmark}"),
    params:
        metric=config["evaluation"]["metric"],
        instances=lambda wildcards: headline_instances(),
    log:
        "logs/headline_report/{benchmark}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/headline_report.py"


# Instruction-following retention (Speech-IFEval protocol): the speech LM from audio vs its text LLM from the
# seed transcript, on the same constrained instructions.


rule build_ifeval_demo:
    input:
        seeds=expand("results/seeds/{corpus}.parquet", corpus=list(config["corpora"])),
    output:
        "results/ifeval/demo/items.parquet",
    params:
        seed=config["evaluation"]["ifeval"]["seed"],
        per_speaker=config["evaluation"]["ifeval"]["clips_per_speaker"],
    log:
        "logs/build_ifeval_demo/build_ifeval_demo.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/build_ifeval_demo.py"


rule answer_ifeval:
    input:
        unpack(system_inputs),
        constrained=ifeval_items,
    output:
        "results/ifeval/{ifeval_set}/{system}/answers.parquet",
    params:
        kind=lambda wildcards: SYSTEM_KINDS[wildcards.system],
        endpoint=lambda wildcards: SERVED.get(wildcards.system),
        settings={"batch_size": EVALUATION["batch_size"], "max_new_tokens": EVALUATION["ifeval"]["max_new_tokens"]},
        llm_settings={"backend": config["caption"]["backend"], "endpoint": config["caption"]["endpoint"]},
        dtype=config["train"]["backbone_dtype"],
    log:
        "logs/answer_ifeval/{ifeval_set}-{system}.log",
    benchmark:
        "benchmarks/answer_ifeval/{ifeval_set}-{system}.tsv"
    threads: EVALUATION_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/answer_ifeval.py"


rule ifeval_report:
    input:
        unpack(lambda wildcards: {s: f"results/ifeval/{wildcards.ifeval_set}/{s}/answers.parquet" for s in IFEVAL_SYSTEMS}),
    output:
        report("results/report/ifeval_{ifeval_set}.csv", caption="../report/ifeval.rst", category="Instruction following"),
    params:
        reference="text_llm",
        judge=config["evaluation"]["judge"],
        cache="results/evaluation/judge_cache/ifeval_report/{ifeval_set}.sqlite",
    log:
        "logs/ifeval_report/{ifeval_set}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/ifeval_report.py"


# Open questions in AIR-Bench-Chat's format, each answer rated by the judge against the reference answer in
# both orders (only with a judge).


rule build_chat_demo:
    input:
        seeds=expand("results/seeds/{corpus}.parquet", corpus=list(config["corpora"])),
    output:
        directory("results/benchmarks/chat_demo"),
    params:
        seed=CHAT["seed"],
        per_speaker=CHAT["clips_per_speaker"],
    log:
        "logs/build_chat_demo/build_chat_demo.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/build_chat_demo.py"


rule answer_chat:
    input:
        unpack(system_inputs),
        chat=chat_dir,
    output:
        "results/chat/{chat_set}/{system}/answers.parquet",
    params:
        kind=lambda wildcards: SYSTEM_KINDS[wildcards.system],
        endpoint=lambda wildcards: SERVED.get(wildcards.system),
        settings=lambda wildcards: chat_settings(wildcards.chat_set),
        llm_settings={"backend": config["caption"]["backend"], "endpoint": config["caption"]["endpoint"]},
        dtype=config["train"]["backbone_dtype"],
    log:
        "logs/answer_chat/{chat_set}-{system}.log",
    benchmark:
        "benchmarks/answer_chat/{chat_set}-{system}.tsv"
    threads: EVALUATION_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/answer_chat.py"


rule score_chat:
    input:
        "results/chat/{chat_set}/{system}/answers.parquet",
    output:
        scored="results/chat/{chat_set}/{system}/scored.parquet",
        summary="results/chat/{chat_set}/{system}/scores.csv",
    params:
        judge=config["evaluation"]["judge"],
        cache="results/evaluation/judge_cache/score_chat/{chat_set}-{system}.sqlite",
        dataset=chat_dir,
    log:
        "logs/score_chat/{chat_set}-{system}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/score_chat.py"


rule chat_report:
    input:
        lambda wildcards: expand("results/chat/{chat_set}/{system}/scores.csv", chat_set=wildcards.chat_set, system=CHAT_SYSTEMS),
    output:
        report("results/report/chat_{chat_set}.csv", caption="../report/chat.rst", category="Scores", subcategory="open questions"),
    log:
        "logs/chat_report/{chat_set}.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/chat_report.py"
