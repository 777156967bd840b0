# Report pieces (snakemake --report report.html): training curves and first-vs-last validation loss.


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
