"""The fit of a table to a predictor: samples it cannot see are refused,
a table it barely sees is a warning in the log and in the fit output."""
import logging
import tempfile
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
from qiime2.plugins.mgm.actions import (fit_classifier, fit_regressor,
                                        predict_classification,
                                        predict_regression,
                                        summarize_coverage)

from ..actions import prediction
from ..mgm import fit
from ..mgm.model import MGMModel
from ..mgm.tokens import genus_table
from . import _data
from .test_classification import data, export_page  # noqa: F401


@pytest.fixture(scope="module")
def forest(data):  # noqa: F811
    table, taxonomy, metadata = data
    return fit_classifier(table, taxonomy, metadata.get_column("diet"),
                          strategy="forest", random_state=1)[0]


def feature_genera(table, taxonomy):
    """The vocabulary genus of each feature of a table (None: unmapped)."""
    vocabulary = _data.pretrained().vocabulary
    lineages = taxonomy.view(pd.Series)
    return pd.Series({
        f: (vocabulary.genus_tokens[p] if p >= 0 else None)
        for f in table.view(biom.Table).ids("observation")
        for p in [vocabulary.genus_position(lineages[f])]})


def with_genera_renamed(table, taxonomy, keep=()):
    """The taxonomy with every mapped genus but those of ``keep`` renamed
    to a vocabulary genus the table does not hold (as a table classified
    against another reference database would name them)."""
    genera = feature_genera(table, taxonomy)
    vocabulary = _data.pretrained().vocabulary
    foreign = [g for g in vocabulary.genus_tokens
               if g not in set(genera.dropna())]
    renamed = {g: foreign[i] for i, g in enumerate(
        sorted(set(genera.dropna()) - set(keep)))}
    lineages = taxonomy.view(pd.Series).copy()
    for feature, genus in genera.dropna().items():
        if genus in renamed:
            lineages[feature] = f"k__Bacteria; {renamed[genus]}"
    return qiime2.Artifact.import_data(
        "FeatureData[Taxonomy]",
        lineages.rename("Taxon").rename_axis("Feature ID").to_frame())


def minor_genera(table, taxonomy, n):
    """The ``n`` most prevalent genera among those that are not among the
    most abundant (median relative abundance below 10%)."""
    genera = feature_genera(table, taxonomy)
    view = table.view(biom.Table)
    counts = pd.DataFrame(view.matrix_data.toarray(),
                          index=view.ids("observation")).groupby(genera).sum()
    minor = (counts / counts.sum()).median(axis=1) < 0.1
    return list((counts[minor] > 0).mean(axis=1).sort_values(
        ascending=False, kind="stable").index[:n])


def test_a_table_of_other_genera_is_refused(data, forest):  # noqa: F811
    table, taxonomy, _ = data
    other = with_genera_renamed(table, taxonomy)
    with pytest.raises(ValueError, match=r"36 sample\(s\) have none of the "
                       r"\d+ genera this predictor was trained on: "
                       r"PM.*same reference database.*drop_unmapped"):
        predict_classification(table, other, forest)


def test_samples_the_predictor_cannot_see_are_dropped_and_logged(
        data, forest, caplog):  # noqa: F811
    table, taxonomy, _ = data
    view = table.view(biom.Table)
    blind = view.ids()[:2]
    # Two samples hold only genera the forest never saw.
    genera = feature_genera(table, taxonomy)
    unknown = [g for g in _data.pretrained().vocabulary.genus_tokens
               if g not in set(genera.dropna())][:1]
    counts = view.matrix_data.toarray()
    counts[:, :2] = 0
    features = list(view.ids("observation")) + ["elsewhere"]
    counts = np.vstack([counts, np.zeros(counts.shape[1])])
    counts[-1, :2] = 50
    changed = qiime2.Artifact.import_data(
        "FeatureTable[Frequency]",
        biom.Table(counts, features, view.ids()))
    lineages = taxonomy.view(pd.Series).copy()
    lineages["elsewhere"] = f"k__Bacteria; {unknown[0]}"
    lineages = qiime2.Artifact.import_data(
        "FeatureData[Taxonomy]",
        lineages.rename("Taxon").rename_axis("Feature ID").to_frame())
    with pytest.raises(ValueError, match="2 sample.*none of"):
        predict_classification(changed, lineages, forest)
    with caplog.at_level(logging.WARNING, logger="q2_mgm"):
        result = predict_classification(changed, lineages, forest,
                                        drop_unmapped=True)
    assert "Dropped 2 sample(s) with none of" in caplog.text
    predicted = result.predictions.view(pd.Series)
    assert set(predicted.index) == set(view.ids()) - set(blind)
    assert set(result.predictor_fit.view(pd.DataFrame).index) == \
        set(predicted.index)


def test_a_table_sharing_few_genera_is_a_warning(
        data, forest, caplog, tmp_path):  # noqa: F811
    table, taxonomy, _ = data
    few = with_genera_renamed(table, taxonomy,
                              keep=minor_genera(table, taxonomy, 7))
    with caplog.at_level(logging.WARNING, logger="q2_mgm"):
        result = predict_classification(table, few, forest)
    assert "The table fits this predictor poorly" in caplog.text
    assert "the table holds 7 of those" in caplog.text
    table_fit = result.predictor_fit.view(pd.DataFrame)
    assert table_fit.attrs["warning"].startswith(
        "The table fits this predictor poorly")
    assert table_fit[fit.READS].median() < fit.THRESHOLDS[fit.READS]
    assert (table_fit[fit.GENERA] <= 7).all()
    assert set(table_fit[fit.VERDICT]) <= {"good", "poor"}
    assert (table_fit[fit.VERDICT] == "poor").sum() > len(table_fit) / 2
    # The warning travels with the artifact, atop its file.
    result.predictor_fit.export_data(str(tmp_path))
    first = (tmp_path / "predictor-fit.tsv").read_text().splitlines()[0]
    assert first.startswith("# The table fits this predictor poorly")
    metadata = result.predictor_fit.view(qiime2.Metadata)
    assert fit.READS in metadata.columns


def test_the_training_table_fits_its_forest(data, forest, caplog):  # noqa
    table, taxonomy, _ = data
    with caplog.at_level(logging.WARNING, logger="q2_mgm"):
        result = predict_classification(table, taxonomy, forest)
    assert "poorly" not in caplog.text
    table_fit = result.predictor_fit.view(pd.DataFrame)
    assert "warning" not in table_fit.attrs
    # every read of a sample counts, those of no vocabulary genus too
    view = table.view(biom.Table)
    counts = pd.DataFrame(view.matrix_data.toarray(),
                          index=view.ids("observation"), columns=view.ids())
    mapped = feature_genera(table, taxonomy).notna().reindex(counts.index)
    share = counts[mapped.to_numpy()].sum() / counts.sum()
    assert (share < 1).any()
    assert np.allclose(table_fit[fit.READS], share[table_fit.index])
    importance = table_fit[fit.IMPORTANCE]
    assert importance.between(0, 1).all()
    assert importance.median() > fit.THRESHOLDS[fit.IMPORTANCE]


def test_importance_share_is_the_forests_importance(data, forest):  # noqa
    """Importance present: the sum of the forest's stored importance
    (scikit-learn's, summing to 1) over the genera a sample holds; a
    forest saved without it counts its splits instead."""
    table, taxonomy, _ = data
    model = forest.view(MGMModel)
    importance = model.heads["forest.importance"].numpy()
    assert np.isclose(importance.sum(), 1)
    genera = genus_table(table.view(biom.Table), taxonomy.view(pd.Series),
                         model.vocabulary)
    table_fit = fit.table_fit(genera, model)
    tokens = model.vocabulary.genus_ids[genera.genus_positions]
    first = genera.counts[0].toarray().ravel() > 0
    held = np.isin(model.heads["forest.genera"].numpy(), tokens[first])
    assert np.isclose(table_fit[fit.IMPORTANCE].iloc[0],
                      importance[held].sum())
    del model.heads["forest.importance"]
    splits = fit.forest_importance(model.heads)
    assert np.isclose(splits.sum(), 1)
    assert np.corrcoef(splits, importance)[0, 1] > 0.5


def test_a_probe_knows_its_training_genera(data):  # noqa: F811
    table, taxonomy, metadata = data
    probe, _ = fit_classifier(table, taxonomy, metadata.get_column("diet"),
                              strategy="probe")
    model = probe.view(MGMModel)
    genera = genus_table(table.view(biom.Table), taxonomy.view(pd.Series),
                         model.vocabulary)
    trained = model.vocabulary.genus_ids[genera.genus_positions]
    assert set(fit.known_genera(model)) == set(trained)
    assert fit.IMPORTANCE not in fit.table_fit(genera, model)
    other = with_genera_renamed(table, taxonomy)
    with pytest.raises(ValueError, match="none of the"):
        predict_classification(table, other, probe)


def test_regression_reports_its_fit(data):  # noqa: F811
    table, taxonomy, metadata = data
    regressor, _ = fit_regressor(table, taxonomy,
                                 metadata.get_column("relativeTime"))
    result = predict_regression(table, taxonomy, regressor)
    table_fit = result.predictor_fit.view(pd.DataFrame)
    assert set(table_fit.index) == set(
        result.predictions.view(pd.Series).index)
    with pytest.raises(ValueError, match="none of the"):
        predict_regression(table, with_genera_renamed(table, taxonomy),
                           regressor)


@pytest.mark.parametrize("strategy", ["forest", "probe"])
def test_regression_targets_of_any_scale(data, strategy):  # noqa: F811
    """Values beyond single precision (1e40) or tiny (1e-40) are fitted on
    their standardised values: predictions scale with them (up to the
    rounding of the standardisation, which can turn a tied split of a
    tree the other way)."""
    table, taxonomy, metadata = data
    days = metadata.to_dataframe()["relativeTime"].astype(float)
    predicted = {}
    for scale in (1.0, 1e40, 1e-40):
        regressor, _ = fit_regressor(
            table, taxonomy, qiime2.NumericMetadataColumn(days * scale),
            strategy=strategy)
        predicted[scale] = predict_regression(
            table, taxonomy, regressor).predictions.view(pd.Series) / scale
    assert predicted[1.0].std() > 0
    for scale in (1e40, 1e-40):
        difference = (predicted[scale] - predicted[1.0]).abs().max()
        assert difference < 0.05 * predicted[1.0].std()


def test_coverage_reports_the_fit_to_a_predictor(data, forest):  # noqa
    table, taxonomy, _ = data
    few = with_genera_renamed(table, taxonomy,
                              keep=minor_genera(table, taxonomy, 7))
    visualization, = summarize_coverage(table, few, model=forest)
    page = export_page(visualization)
    assert "Fit to the classifier" in page
    assert "The table fits this predictor poorly" in page
    with tempfile.TemporaryDirectory() as folder:
        visualization.export_data(folder)
        report = pd.read_csv(Path(folder) / "predictor-fit.tsv", sep="\t",
                             index_col=0)
    assert len(report) == 36 and fit.READS in report
    # worst fit first: the smallest share of a threshold reached
    reached = pd.concat([report[c] / t for c, t in fit.THRESHOLDS.items()],
                        axis=1).min(axis=1)
    assert reached.is_monotonic_increasing
    assert (report[fit.VERDICT].iloc[:(report[fit.VERDICT] == "poor").sum()]
            == "poor").all()
    plain, = summarize_coverage(table, taxonomy)
    assert "Fit to the" not in export_page(plain)


def test_evaluation_checks_each_split_and_records_the_fit(data):  # noqa
    table, taxonomy, metadata = data
    view = table.view(biom.Table)
    labels = metadata.get_column("diet").to_series()
    ids = list(labels.index)
    params = {"strategy": "forest", "drop_unmapped": False, "device": "cpu",
              "threads": 1, "random_state": 0}
    splits = [("a", ids[:24], ids[24:])]
    _, folds, *_ = prediction.evaluate(
        view, taxonomy.view(pd.Series), None, labels,
        sorted(labels.unique()), splits, params)
    folds = folds.to_dataframe()
    assert set(folds.index) == set(ids[24:])
    assert {fit.READS, fit.IMPORTANCE, fit.VERDICT} <= set(folds.columns)
    # A test sample that holds none of the training samples' genera.
    counts = view.matrix_data.toarray()
    genera = feature_genera(table, taxonomy)
    unknown = [g for g in _data.pretrained().vocabulary.genus_tokens
               if g not in set(genera.dropna())][0]
    counts[:, ids.index(ids[-1])] = 0
    counts = np.vstack([counts, np.zeros(counts.shape[1])])
    counts[-1, ids.index(ids[-1])] = 10
    changed = biom.Table(counts, list(view.ids("observation")) + ["x"],
                         view.ids())
    lineages = taxonomy.view(pd.Series).copy()
    lineages["x"] = f"k__Bacteria; {unknown}"
    with pytest.raises(ValueError, match="1 sample.*none of the .* genera "
                       "of the training samples of split 'a'"):
        prediction.evaluate(changed, lineages, None, labels,
                            sorted(labels.unique()), splits, params)
    _, folds, *_ = prediction.evaluate(
        changed, lineages, None, labels, sorted(labels.unique()), splits,
        {**params, "drop_unmapped": True})
    assert ids[-1] not in folds.ids
