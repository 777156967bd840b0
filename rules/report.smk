# Report pieces (snakemake --report report.html): training curves, first-vs-last validation loss, and the
# heavy jobs' wall time, CPU time and peak memory from their benchmark records.


rule training_report:
    input:
        unpack(training_runs),
    output:
        figure=report("results/report/training_curves.svg", caption="../report/training_curves.rst", category="Training"),
        table=report("results/report/validation_loss.csv", caption="../report/validation_loss.rst", category="Training"),
    log:
        "logs/training_report/training_report.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/training_report.py"


# after every other target; benchmark records are read, not required (a missing one would rerun its job)
rule performance_report:
    input:
        final_outputs(),
    output:
        report("results/report/performance.csv", caption="../report/performance.rst", category="Performance"),
    params:
        records=heavy_job_benchmarks(),
    log:
        "logs/performance_report/performance_report.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/performance_report.py"


# every method setting of this run that differs from the paper's (config/paper.yaml)
rule settings_report:
    input:
        paper=repo_file("config/paper.yaml"),
    output:
        report("results/report/deviations.csv", caption="../report/deviations.rst", category="Settings"),
    params:
        ours=config,
    log:
        "logs/settings_report/settings_report.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/settings_report.py"
