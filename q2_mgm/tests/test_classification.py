"""Fine-tuned MGM classification, through the Python API and the CLI."""
import subprocess
import sys
import tempfile
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
from qiime2.plugins.mgm.actions import (classify_samples,
                                        classify_samples_cv, collapse_genera,
                                        fit_classifier,
                                        predict_classification,
                                        summarize_training)
from qiime2.plugins.sample_classifier.actions import (confusion_matrix,
                                                      heatmap)

from ..actions import classification as _classification
from ..actions.classification import class_labels
from ..mgm import classification as clf
from ..mgm import finetuning
from ..actions.embedding import pretrained_model
from ..mgm.model import MGMModel
from . import _data

FAST = {"strategy": "fine-tune", "epochs": 2, "batch_size": 8,
        "device": "cpu", "random_state": 1}


def export_page(visualization):
    """The index.html of a visualization."""
    with tempfile.TemporaryDirectory() as folder:
        visualization.export_data(folder)
        return (Path(folder) / "index.html").read_text()


def subset_metadata(per_group=2):
    """Two samples of every mouse and diet: 24 BK and 12 Western."""
    df = _data.example_metadata().to_dataframe()
    keep = df.groupby(["mouseID", "diet"]).head(per_group).index
    return qiime2.Metadata(df.loc[keep])


@pytest.fixture(scope="module")
def data():
    metadata = subset_metadata()
    view = _data.example_table().view(biom.Table)
    view = view.filter(metadata.ids, inplace=False).remove_empty(
        axis="observation", inplace=False)
    table = qiime2.Artifact.import_data("FeatureTable[Frequency]", view)
    return table, _data.example_taxonomy(), metadata


@pytest.fixture(scope="module")
def views(data):
    table, taxonomy, metadata = data
    return table.view(biom.Table), taxonomy.view(pd.Series), metadata


@pytest.fixture(scope="module")
def fitted(data):
    table, taxonomy, metadata = data
    classifier, _ = fit_classifier(table, taxonomy,
                                   metadata.get_column("diet"), **FAST)
    return classifier


@pytest.fixture(scope="module")
def predicted(data, fitted):
    table, taxonomy, _ = data
    return predict_classification(table, taxonomy, fitted, device="cpu")


@pytest.fixture(scope="module")
def pipeline(data):
    table, taxonomy, metadata = data
    return classify_samples(table, taxonomy, metadata.get_column("diet"),
                            test_size=0.25, **FAST)


def column(metadata, name, values=None):
    series = metadata.to_dataframe()[name].copy()
    if values is not None:
        series[:] = values
    return qiime2.CategoricalMetadataColumn(series)


def test_fit_records_labels_history_and_start_model(fitted):
    model = fitted.view(MGMModel)
    manifest = model.manifest
    assert model.kind == "classifier"
    assert manifest["labels"] == ["BK", "Western"]
    assert manifest["pooling"] == "eos"
    assert 1 <= len(manifest["history"]) <= 2
    assert sum(r["best"] for r in manifest["history"]) == 1
    assert manifest["parameters"]["epochs"] == 2
    assert manifest["start_model"]["kind"] == "pretrained"
    counts = manifest["class_counts"]
    assert counts["training"]["BK"] + counts["validation"]["BK"] == 24
    assert model.network.config.id2label == {0: "BK", 1: "Western"}


def test_fine_tuning_keeps_the_pretrained_transformer_at_start(fitted):
    pretrained = _data.pretrained()
    network, kept = finetuning.sequence_network(pretrained, ["a", "b"], 0)
    assert not kept
    for name, weight in pretrained.backbone.state_dict().items():
        assert np.array_equal(network.transformer.state_dict()[name], weight)
    model = fitted.view(MGMModel)
    network, kept = finetuning.sequence_network(model, ["BK", "Western"], 0)
    assert kept
    assert np.array_equal(network.score.weight.detach(),
                          model.network.score.weight.detach())


def test_predictions_and_probabilities(data, predicted):
    predictions = predicted.predictions.view(pd.Series)
    probabilities = predicted.probabilities.view(pd.DataFrame)
    assert predictions.name == "prediction"
    assert list(probabilities.columns) == ["BK", "Western"]
    assert set(predictions.index) == set(data[2].ids)
    assert np.allclose(probabilities.sum(1), 1)
    assert (probabilities.idxmax(1) == predictions[probabilities.index]).all()


def test_fit_is_deterministic_on_cpu(data, fitted, predicted):
    table, taxonomy, metadata = data
    again, _ = fit_classifier(table, taxonomy, metadata.get_column("diet"),
                              **FAST)
    first = predicted.probabilities.view(pd.DataFrame)
    second = predict_classification(table, taxonomy, again, device="cpu"
                                    ).probabilities.view(pd.DataFrame)
    assert np.array_equal(first.to_numpy(), second.to_numpy())


def test_classifier_with_other_labels_gets_a_new_head(data, fitted):
    table, taxonomy, metadata = data
    mouse_group = column(metadata, "mouseID").to_series().isin(
        ["PM1", "PM2", "PM3", "PM4", "PM5", "PM6"]).map(
        {True: "early", False: "late"})
    again, _ = fit_classifier(table, taxonomy,
                              qiime2.CategoricalMetadataColumn(mouse_group),
                              model=fitted, **{**FAST, "epochs": 1})
    manifest = again.view(MGMModel).manifest
    assert manifest["labels"] == ["early", "late"]
    assert manifest["start_model"] == {
        "kind": "classifier", "labels": ["BK", "Western"], "head": "new",
        "source": manifest["source"]}


def test_summarize_training(fitted, tmp_path):
    visualization, = summarize_training(fitted)
    visualization.export_data(str(tmp_path))
    html = (tmp_path / "index.html").read_text()
    assert "Loss per epoch" in html and "Class balance" in html
    assert (tmp_path / "loss.png").exists()


def test_classify_samples_outputs(data, pipeline):
    metadata = data[2]
    predictions = pipeline.predictions.view(pd.Series)
    assert len(predictions) == 9  # a quarter of 36, rounded up
    assert str(pipeline.sample_estimator.type) == "MGMModel[Classifier]"
    assert str(pipeline.probabilities.type) == "SampleData[Probabilities]"
    baselines = {"forest": pipeline.forest_predictions,
                 "probe": pipeline.probe_predictions}
    for name, result in baselines.items():
        assert set(result.view(pd.Series).index) == set(predictions.index)
        probabilities = getattr(pipeline, f"{name}_probabilities")
        accuracy, = confusion_matrix(result, metadata.get_column("diet"),
                                     probabilities, missing_samples="ignore")
        page = export_page(accuracy)
        assert "BK" in page and "Western" in page
    report = export_page(pipeline.accuracy_results)
    for text in ("MGM fine-tuned", "RandomForest (genus table)",
                 "logistic regression", "Paired comparison", "PR-AUC",
                 "sensitivity", "held-out test samples"):
        assert text in report


def assert_heatmap_picks_the_top(importance, genera, metadata, count=5):
    """q2-sample-classifier's heatmap draws the ``count`` genera that the
    importance artifact ranks highest (any of those tied at the edge)."""
    values = importance.view(pd.DataFrame)
    assert list(values.columns) == ["importance"]
    assert values["importance"].is_monotonic_decreasing
    assert values.index.str.startswith("g__").all()
    drawn = heatmap(genera, importance, sample_metadata=metadata,
                    group_samples=True, feature_count=count)
    picked = set(drawn.filtered_table.view(biom.Table).ids(
        axis="observation"))
    edge = values["importance"].iloc[count - 1]
    assert len(picked) == count
    assert set(values.index[values["importance"] > edge]) <= picked
    assert picked <= set(values.index[values["importance"] >= edge])
    assert "heatmap" in export_page(drawn.heatmap).lower()


def test_pipeline_importance_drives_the_sample_classifier_heatmap(
        data, pipeline):
    table, taxonomy, metadata = data
    genera, = collapse_genera(table=table, taxonomy=taxonomy)
    assert_heatmap_picks_the_top(pipeline.feature_importance, genera,
                                 metadata.get_column("diet"), count=10)
    assert str(pipeline.heatmap.type) == "Visualization"
    assert "heatmap" in export_page(pipeline.heatmap).lower()


def test_classify_samples_cv_keeps_mice_in_one_fold(data, tmp_path):
    table, taxonomy, metadata = data
    result = classify_samples_cv(
        table, taxonomy, metadata.get_column("diet"),
        groups=metadata.get_column("mouseID"), cv=2,
        **{**FAST, "epochs": 1})
    predictions = result.predictions.view(pd.Series)
    probabilities = result.probabilities.view(pd.DataFrame)
    assert set(predictions.index) == set(metadata.ids)
    assert list(probabilities.columns) == ["BK", "Western"]
    folds = clf.cv_folds(class_labels(table.view(biom.Table).ids(),
                                      metadata.get_column("diet"), "error"),
                         2, FAST["random_state"],
                         metadata.get_column("mouseID").to_series())
    mice = metadata.to_dataframe()["mouseID"]
    assert (folds.groupby(mice).nunique() == 1).all()
    result.accuracy_results.export_data(str(tmp_path))
    html = (tmp_path / "index.html").read_text()
    assert "mean of folds" in html and "ROC-AUC" in html
    assert "RandomForest (genus table)" in html and "sign-flip" in html
    assert (tmp_path / "roc.png").exists()
    assert "heatmap" in export_page(result.heatmap).lower()
    importance = result.feature_importance.view(pd.DataFrame)
    assert importance["importance"].is_monotonic_decreasing
    for name in ("forest", "probe"):
        baseline = getattr(result, f"{name}_probabilities").view(
            pd.DataFrame)
        assert set(baseline.index) == set(metadata.ids)


def test_cv_folds_are_stratified_and_reproducible():
    labels = pd.Series(["a"] * 10 + ["b"] * 5, name="label",
                       index=[f"s{i}" for i in range(15)])
    folds = clf.cv_folds(labels, 5, 3)
    assert folds.equals(clf.cv_folds(labels, 5, 3))
    assert (pd.crosstab(folds, labels)["b"] == 1).all()


# --- bad input ---------------------------------------------------------------
def test_numeric_label_column_is_rejected(views, data):
    table, taxonomy, metadata = views
    numeric = metadata.get_column("relativeTime")
    with pytest.raises(ValueError, match="numeric.*categor"):
        _classification.fit_classifier(table, taxonomy, numeric)
    with pytest.raises(TypeError):
        fit_classifier(data[0], data[1], numeric)


def test_a_single_class_is_rejected(views):
    table, taxonomy, metadata = views
    with pytest.raises(ValueError, match="at least two classes"):
        _classification.fit_classifier(table, taxonomy,
                                       column(metadata, "diet", "BK"))


def test_samples_missing_from_metadata(views):
    table, taxonomy, metadata = views
    labels = column(metadata, "diet").to_series().iloc[3:]
    partial = qiime2.CategoricalMetadataColumn(labels)
    with pytest.raises(ValueError, match="3 sample.*not in the metadata"):
        _classification.fit_classifier(table, taxonomy, partial)
    kept = class_labels(table.ids(), partial, "ignore")
    assert list(kept.index) == list(labels.index)


def test_missing_labels(views):
    table, taxonomy, metadata = views
    labels = column(metadata, "diet").to_series()
    labels.iloc[:2] = np.nan
    gaps = qiime2.CategoricalMetadataColumn(labels)
    with pytest.raises(ValueError, match="2 sample.*no 'diet' value"):
        _classification.fit_classifier(table, taxonomy, gaps)
    assert len(class_labels(table.ids(), gaps, "ignore")) == 34


def one_western(metadata):
    labels = column(metadata, "diet").to_series()
    western = labels.index[labels == "Western"]
    labels[western[1:]] = np.nan
    return qiime2.CategoricalMetadataColumn(labels)


def test_class_too_small_for_validation(views):
    table, taxonomy, metadata = views
    with pytest.raises(ValueError, match="at least 2 samples per class"):
        _classification.fit_classifier(table, taxonomy, one_western(metadata),
                                       missing_samples="ignore")


def test_class_too_small_for_split_or_folds(data):
    table, taxonomy, metadata = data
    with pytest.raises(ValueError, match="split needs at least 3"):
        classify_samples(table, taxonomy, one_western(metadata),
                         missing_samples="ignore")
    with pytest.raises(ValueError, match="20-fold.*at least 20"):
        classify_samples_cv(table, taxonomy, metadata.get_column("diet"),
                            cv=20)
    with pytest.raises(ValueError, match="groups per class"):
        classify_samples_cv(table, taxonomy, metadata.get_column("diet"),
                            groups=metadata.get_column("mouseID"), cv=8)


def test_test_size_too_small_for_the_classes(data):
    table, taxonomy, metadata = data
    with pytest.raises(ValueError, match="test_size"):
        classify_samples(table, taxonomy, metadata.get_column("diet"),
                         test_size=0.01)


def test_pretrained_model_cannot_predict(views, data):
    table, taxonomy, _ = views
    with pytest.raises(ValueError, match="not a classifier.*fit-classifier"):
        _classification.predict_classification(table, taxonomy,
                                               _data.pretrained())
    directory = pretrained_model()  # kept alive while importing
    pretrained = qiime2.Artifact.import_data("MGMModel[Pretrained]",
                                             str(directory.path))
    with pytest.raises(TypeError):  # the type system refuses it too
        predict_classification(data[0], data[1], pretrained)


# --- command line ------------------------------------------------------------
def qiime(*args):
    return subprocess.run([sys.executable, "-m", "q2cli", *args],
                          capture_output=True, text=True)


@pytest.mark.slow
def test_cli_fit_then_predict(data, tmp_path):
    table, taxonomy, metadata = data
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    metadata.save(str(tmp_path / "metadata.tsv"))
    fit = qiime("mgm", "fit-classifier",
                "--i-table", str(tmp_path / "table.qza"),
                "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                "--m-metadata-file", str(tmp_path / "metadata.tsv"),
                "--m-metadata-column", "diet", "--p-epochs", "1",
                "--p-device", "cpu",
                "--o-classifier", str(tmp_path / "classifier.qza"),
                "--o-feature-importance", str(tmp_path / "importance.qza"))
    assert fit.returncode == 0, fit.stderr
    loaded = qiime2.Artifact.load(str(tmp_path / "classifier.qza"))
    assert str(loaded.type) == "MGMModel[Classifier]"
    missing = qiime("mgm", "fit-classifier",
                    "--i-table", str(tmp_path / "table.qza"),
                    "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                    "--m-metadata-file", str(tmp_path / "metadata.tsv"),
                    "--m-metadata-column", "no-such-column",
                    "--o-classifier", str(tmp_path / "other.qza"))
    assert missing.returncode != 0
    assert "no-such-column" in missing.stderr


def test_fold_training_sets_are_checked_before_training():
    labels = pd.Series(["a"] * 6 + ["b"] * 4, name="diet",
                       index=[f"s{i}" for i in range(10)])
    fold = pd.Series([1, 1, 1, 2, 2, 2, 1, 2, 2, 2], index=labels.index)
    with pytest.raises(ValueError, match="fold 2.*at least 2"):
        clf.check_training_sets(labels, fold)
    fold["s9"] = 1
    clf.check_training_sets(labels, fold)


@pytest.mark.parametrize("parameter", [
    "epochs", "learning_rate", "batch_size", "validation_fraction",
    "patience", "class_weight"])
def test_departures_from_the_published_recipe_are_named(parameter):
    """Each fine-tuning default says what the published recipe uses."""
    from qiime2.plugins import mgm
    for action in ("fit_classifier", "classify_samples",
                   "classify_samples_cv"):
        signature = getattr(mgm.actions, action).signature
        assert "published" in signature.parameters[parameter].description


def test_class_weights():
    targets = np.array([0, 0, 0, 1])
    assert finetuning.class_weights(targets, 2, "none") is None
    balanced = finetuning.class_weights(targets, 2, "balanced").numpy()
    np.testing.assert_allclose(balanced, [4 / 6, 4 / 2])


def test_unweighted_fit_without_validation(data):
    table, taxonomy, metadata = data
    classifier, _ = fit_classifier(
        table, taxonomy, metadata.get_column("diet"), class_weight="none",
        validation_fraction=0.0, **{**FAST, "epochs": 1})
    manifest = classifier.view(MGMModel).manifest
    assert manifest["parameters"]["class_weight"] == "none"
    assert manifest["parameters"]["validation_fraction"] == 0.0
    assert manifest["class_counts"]["validation"] == {"BK": 0, "Western": 0}
    history = manifest["history"]
    assert "validation_loss" not in history[0] and history[0]["best"]
