import pytest

from workflow import ROOT, snakemake

pytestmark = pytest.mark.slow  # runs Snakemake


def test_snakemake_lint_passes(tmp_path):
    result = snakemake(ROOT, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_invalid_config_stops_with_one_line_naming_the_key(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "threads=many", check=False)
    assert result.returncode != 0
    assert "invalid configuration: config key 'threads': 'many' is not of type 'integer'" in result.stdout + result.stderr
