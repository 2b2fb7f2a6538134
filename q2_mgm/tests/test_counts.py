"""Counts are written as integers in the TSVs the plugin writes, and equal
what the table holds (biom's own sums)."""
import io
import zipfile

import biom
import numpy as np
import pandas as pd
from qiime2.plugins.mgm.visualizers import summarize_coverage

from ..mgm import evaluation
from ..mgm.tables import whole_counts
from . import _data


def tsv(visualization, name, tmp_path):
    path = visualization.save(str(tmp_path / "v.qzv"))
    with zipfile.ZipFile(path) as archive:
        member = next(n for n in archive.namelist()
                      if n.endswith(f"/data/{name}"))
        return archive.read(member).decode()


def test_whole_counts():
    assert whole_counts(np.array([3.0, 0.0])).dtype == np.int64
    assert whole_counts(np.array([3.5, 1.0])).dtype == np.float64
    assert whole_counts(np.array([np.nan, 1.0])).dtype == np.float64
    assert whole_counts(np.array([2, 5])).dtype.kind == "i"


def test_coverage_writes_reads_as_integers(tmp_path):
    table = _data.example_table(15)
    visualization, = summarize_coverage(table, _data.example_taxonomy())
    per_sample = tsv(visualization, "per-sample-coverage.tsv", tmp_path)
    rows = [line.split("\t") for line in per_sample.splitlines()]
    header = rows[0]
    assert header[0] == "sample-id"
    view = table.view(biom.Table)
    for row in rows[1:]:
        total = row[header.index("total reads")]
        assert total.isdigit() and row[header.index("mapped reads")].isdigit()
        assert int(total) == view.data(row[0], axis="sample").sum()
    unmapped = pd.read_csv(io.StringIO(tsv(
        visualization, "unmapped-taxa.tsv", tmp_path)), sep="\t", dtype=str)
    assert unmapped["reads"].str.fullmatch(r"\d+").all()


def test_fold_scores_count_samples_as_integers():
    truth = pd.Series(["a", "b"] * 10, index=[f"s{i}" for i in range(20)])
    probabilities = pd.DataFrame(
        {"a": np.linspace(0.1, 0.9, 20)}, index=truth.index)
    probabilities["b"] = 1 - probabilities["a"]
    folds = pd.Series([1] * 8 + [2] * 12, index=truth.index)
    table = evaluation.fold_scores("classification", truth, probabilities,
                                   folds)
    text = table.to_csv(sep="\t")
    samples = [line.split("\t")[1] for line in text.splitlines()[1:]]
    assert samples == ["8", "12", "", "", "20"]
