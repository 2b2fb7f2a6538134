"""Strategies, baselines and regression: checked against scikit-learn."""
import html

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
import safetensors.torch
import torch
from qiime2.plugins.mgm.actions import (classify_samples_cv,
                                        fit_classifier, fit_regressor,
                                        predict_classification,
                                        predict_regression,
                                        regress_samples_cv,
                                        summarize_cross_validation,
                                        summarize_training)
from qiime2.plugins.sample_classifier.actions import scatterplot
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

from ..actions.classification import class_labels, sample_folds
from ..mgm import evaluation, heads, splits
from ..mgm import model as mgm_model
from ..mgm.strategies import samples_of
from ..mgm.tokens import genus_table, tokenize
from ..mgm.training import TrainingDiverged
from . import _data
from .test_classification import data, export_page, subset_metadata  # noqa

FAST = {"epochs": 1, "batch_size": 8, "device": "cpu", "random_state": 1}


@pytest.fixture(scope="module")
def views(data):  # noqa: F811
    table, taxonomy, metadata = data
    return table.view(biom.Table), taxonomy.view(pd.Series), metadata


def relative_abundances(table, taxonomy):
    vocabulary = _data.pretrained().vocabulary
    sentences, _ = tokenize(table, taxonomy, vocabulary)
    return samples_of(genus_table(table, taxonomy, vocabulary), vocabulary,
                      sentences).abundances


# --- stored estimators equal scikit-learn's ---------------------------------
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_stored_forest_predicts_as_scikit_learn(task):
    rng = np.random.default_rng(0)
    features = rng.random((60, 8))
    targets = (np.array(["a", "b", "c"])[rng.integers(0, 3, 60)]
               if task == "classification" else rng.normal(size=60))
    forest = heads.fit_forest(features, targets, task, 3)
    arrays = heads.forest_arrays(forest)
    new = rng.random((25, 8))
    expected = (forest.predict_proba(new) if task == "classification"
                else forest.predict(new)[:, None])
    np.testing.assert_allclose(heads.forest_predict(arrays, new), expected,
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("classes", [2, 3, None])
def test_stored_linear_model_predicts_as_scikit_learn(classes):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(50, 6)) * 3 + 1
    task = "regression" if classes is None else "classification"
    targets = (rng.normal(size=50) if classes is None
               else rng.integers(0, classes, 50))
    splits_ = splits.kfold(50, 5, 0, None if classes is None else targets)
    arrays = heads.fit_linear(features, targets, task, splits_)
    scaled = (features - features.mean(0)) / features.std(0)
    model, _ = heads.fit_penalised(task, scaled, targets, splits_)
    assert isinstance(model, LogisticRegression if classes else Ridge)
    expected = (model.predict(scaled) if classes is None
                else model.predict_proba(scaled))
    np.testing.assert_allclose(heads.linear_predict(arrays, features, task),
                               expected, atol=1e-9)


def test_forest_strategy_equals_a_plain_random_forest(views,
                                                      data):  # noqa: F811
    """fit-classifier/predict-classification with 'forest' give what
    scikit-learn's forest gives on the genus relative abundances."""
    table, taxonomy, metadata = views
    classifier, _ = fit_classifier(data[0], data[1],
                                   metadata.get_column("diet"),
                                   strategy="forest", random_state=4)
    model = classifier.view(mgm_model.MGMModel)
    assert model.manifest["strategy"] == "forest"
    assert model.manifest["weights"] == {"forest": 1.0}
    got = predict_classification(data[0], data[1], classifier
                                 ).probabilities.view(pd.DataFrame)
    abundances = relative_abundances(table, taxonomy)
    present = abundances.columns[(abundances > 0).any()]
    labels = metadata.get_column("diet").to_series().reindex(
        abundances.index)
    reference = RandomForestClassifier(500, random_state=4).fit(
        abundances[present].to_numpy(), labels)
    expected = reference.predict_proba(abundances[present].to_numpy())
    np.testing.assert_allclose(got.loc[abundances.index].to_numpy(),
                               expected, atol=1e-12)


# --- strategies --------------------------------------------------------------
@pytest.fixture(scope="module")
def blended(data):  # noqa: F811
    table, taxonomy, metadata = data
    return fit_classifier(table, taxonomy, metadata.get_column("diet"),
                          groups=metadata.get_column("mouseID"),
                          strategy="blend", random_state=2)[0]


def test_blend_records_its_choice_and_is_deterministic(
        data, blended):  # noqa: F811
    table, taxonomy, metadata = data
    manifest = blended.view(mgm_model.MGMModel).manifest
    assert manifest["strategy"] == "blend"
    weight = manifest["weights"]["forest"]
    assert weight in (0, 0.25, 0.5, 0.75, 1)
    assert manifest["weights"]["linear"] == 1 - weight
    selection = manifest["blend_selection"]
    scores, margin = selection["scores"], selection["margin"]
    best = max(scores.values())
    if best >= scores["1.0"] + margin:
        assert scores[str(float(weight))] == best
    else:
        assert weight == 1.0
    assert manifest["parameters"]["groups"] == "mouseID"
    again, _ = fit_classifier(table, taxonomy, metadata.get_column("diet"),
                              groups=metadata.get_column("mouseID"),
                              strategy="blend", random_state=2)
    first, second = (predict_classification(table, taxonomy, m)
                     .probabilities.view(pd.DataFrame)
                     for m in (blended, again))
    assert np.array_equal(first.to_numpy(), second.to_numpy())
    assert np.allclose(first.sum(1), 1)


def test_frozen_strategies_refer_to_the_packaged_network(
        blended, data, tmp_path):  # noqa: F811
    """A blend stores its estimators, not a copy of the packaged network,
    and predicts the same after a round trip."""
    table, taxonomy, _ = data
    path = tmp_path / "blend.qza"
    blended.save(str(path))
    assert path.stat().st_size < 2_000_000
    directory = tmp_path / "blend"
    blended.export_data(str(directory))
    assert not (directory / "model.safetensors").exists()
    loaded = mgm_model.load(directory)
    assert loaded.packaged
    assert loaded.manifest[mgm_model.PACKAGED_NETWORK] == \
        mgm_model.packaged_digests()
    first, second = (predict_classification(table, taxonomy, m)
                     .probabilities.view(pd.DataFrame)
                     for m in (blended, qiime2.Artifact.load(str(path))))
    assert np.array_equal(first.to_numpy(), second.to_numpy())


def test_summarize_training_of_a_blend(blended, tmp_path):
    visualization, = summarize_training(blended)
    page = export_page(visualization)
    assert "Blend weight" in page and "MGM blend" in page


@pytest.mark.parametrize("strategy", ["probe", "lp-ft", "ensemble"])
def test_each_strategy_fits_and_predicts(data, strategy):  # noqa: F811
    table, taxonomy, metadata = data
    classifier, _ = fit_classifier(table, taxonomy,
                                   metadata.get_column("diet"),
                                   strategy=strategy, **FAST)
    model = classifier.view(mgm_model.MGMModel)
    assert model.manifest["strategy"] == strategy
    if strategy == "lp-ft":
        assert model.manifest["start_model"]["head"] == "probe"
    if strategy == "ensemble":
        assert model.manifest["weights"] == {"network": 0.5, "forest": 0.5}
    probabilities = predict_classification(
        table, taxonomy, classifier).probabilities.view(pd.DataFrame)
    assert list(probabilities.columns) == ["BK", "Western"]
    assert np.allclose(probabilities.sum(1), 1)


def test_frozen_lower_layers_stay_pretrained(data):  # noqa: F811
    table, taxonomy, metadata = data
    classifier, _ = fit_classifier(table, taxonomy,
                                   metadata.get_column("diet"),
                                   strategy="fine-tune", freeze_layers=2,
                                   layer_decay=0.8, warmup_steps=1, **FAST)
    tuned = classifier.view(mgm_model.MGMModel).backbone.state_dict()
    pretrained = _data.pretrained().backbone.state_dict()
    assert torch.equal(tuned["h.1.mlp.c_fc.weight"],
                       pretrained["h.1.mlp.c_fc.weight"])
    assert torch.equal(tuned["wte.weight"], pretrained["wte.weight"])
    assert not torch.equal(tuned["h.7.mlp.c_fc.weight"],
                           pretrained["h.7.mlp.c_fc.weight"])


def test_diverged_training_keeps_no_model(data):  # noqa: F811
    table, taxonomy, metadata = data
    with pytest.raises(TrainingDiverged, match="Lower the learning rate"):
        fit_classifier(table, taxonomy, metadata.get_column("diet"),
                       strategy="fine-tune", learning_rate=1e6,
                       **{**FAST, "epochs": 3})


# --- splits ------------------------------------------------------------------
def test_group_splits_keep_subjects_whole():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"m{i}" for i in range(12)], 4)
    strata = np.where(rng.random(48) < 0.5, "a", "b")
    for train, test in splits.kfold(48, 4, 0, strata, groups):
        assert set(groups[train]).isdisjoint(groups[test])
    for train, test in splits.inner_splits(strata, True, 0, groups):
        assert set(groups[train]).isdisjoint(groups[test])
    targets = pd.Series(rng.normal(size=48), index=[f"s{i}" for i in
                                                    range(48)])
    train, test = splits.holdout_split(
        targets, 0.25, 0, pd.Series(groups, index=targets.index),
        classes=False)
    grouped = pd.Series(groups, index=targets.index)
    assert set(grouped[train]).isdisjoint(grouped[test])


def test_cv_probe_equals_a_probe_fitted_on_each_fold(data):  # noqa: F811
    """Cross-validation embeds every sample once for all folds; each fold's
    probe still predicts what a probe fitted on that fold's training
    samples alone (fit-classifier, predict-classification) predicts."""
    table, taxonomy, metadata = data
    diet = metadata.get_column("diet")
    found = classify_samples_cv(table, taxonomy, diet, cv=3,
                                strategy="probe", random_state=1
                                ).probabilities.view(pd.DataFrame)
    view = table.view(biom.Table)
    folds = sample_folds(class_labels(view.ids(), diet, "error"), 3, 1)
    for fold in sorted(folds.unique()):
        train, test = (qiime2.Artifact.import_data(
            "FeatureTable[Frequency]", view.filter(
                folds.index[chosen], inplace=False).remove_empty(
                "observation", inplace=False))
            for chosen in (folds != fold, folds == fold))
        probe, _ = fit_classifier(train, taxonomy, diet, strategy="probe",
                                  random_state=1)
        expected = predict_classification(test, taxonomy, probe
                                          ).probabilities.view(pd.DataFrame)
        np.testing.assert_allclose(found.loc[expected.index].to_numpy(),
                                   expected.to_numpy(), atol=1e-5)


def test_sign_flip_p_is_exact():
    assert evaluation.sign_flip_p([0.1, 0.2, 0.05, 0.3, 0.1]) == 2 / 32
    assert evaluation.sign_flip_p([0.1, -0.1]) == 1.0


def test_scores_agree_with_scikit_learn():
    from sklearn.metrics import average_precision_score, roc_auc_score
    truth = pd.Series(list("aabbbab"), index=list("0123456"))
    p = np.array([.9, .6, .3, .2, .4, .45, .7])
    probabilities = pd.DataFrame({"a": p, "b": 1 - p}, index=truth.index)
    scores = evaluation.classification_scores(truth, probabilities)
    assert scores["ROC-AUC"] == roc_auc_score(truth == "a", p)
    assert scores["PR-AUC"] == average_precision_score(truth == "a", p)
    # Predicted a: 0, 1, 6; true a: 0, 1, 5.
    assert scores["sensitivity"] == 2 / 3 and scores["specificity"] == 3 / 4


def test_bootstrap_scores_equal_scikit_learn_on_every_draw():
    """The bootstrap's direct primary score equals ``score`` (scikit-learn)
    on resampled draws with ties and repeated samples: three classes,
    two classes and regression."""
    rng = np.random.default_rng(3)
    ids = [f"s{i}" for i in range(40)]
    for classes in (list("abc"), list("ab")):
        truth = pd.Series(rng.choice(classes, 40), index=ids)
        raw = rng.integers(1, 6, (40, len(classes))).astype(float)  # ties
        probabilities = pd.DataFrame(raw / raw.sum(1, keepdims=True),
                                     index=ids, columns=classes)
        for _ in range(20):
            draw = rng.integers(0, 40, 40)
            drawn = probabilities.iloc[draw]
            assert np.isclose(evaluation.primary_score(
                "classification", truth.to_numpy()[draw],
                drawn.to_numpy(), np.array(classes)),
                evaluation.score("classification", truth, drawn)["ROC-AUC"],
                rtol=0, atol=1e-12)
    truth = pd.Series(rng.normal(size=40), index=ids)
    predicted = pd.Series(rng.normal(size=40), index=ids)
    draw = rng.integers(0, 40, 40)
    assert np.isclose(evaluation.primary_score(
        "regression", truth.to_numpy()[draw], predicted.to_numpy()[draw]),
        evaluation.score("regression", truth, predicted.iloc[draw])["R²"])


# --- regression --------------------------------------------------------------
def test_regression_end_to_end(data, tmp_path):  # noqa: F811
    table, taxonomy, metadata = data
    days = metadata.get_column("relativeTime")
    regressor, _ = fit_regressor(table, taxonomy, days, strategy="probe")
    assert str(regressor.type) == "MGMModel[Regressor]"
    predicted = predict_regression(table, taxonomy, regressor).predictions
    values = predicted.view(pd.Series)
    assert set(values.index) == set(metadata.ids)
    assert values.std() > 0
    result = regress_samples_cv(table, taxonomy, days, cv=3,
                                groups=metadata.get_column("mouseID"))
    page = export_page(result.accuracy_results)
    assert "R²" in page and "RandomForest (genus table)" in page
    assert "ridge" in page
    plot, = scatterplot(result.predictions, days)
    assert "html" in export_page(plot).lower()
    with pytest.raises(TypeError):  # a regressor is not a classifier
        predict_classification(table, taxonomy, regressor)


def test_regression_needs_numbers(views):
    table, taxonomy, metadata = views
    from ..actions.regression import fit_regressor as fit
    with pytest.raises(ValueError, match="categorical; a regressor"):
        fit(table, taxonomy, metadata.get_column("diet"))


# --- damaged predictors ------------------------------------------------------
def test_damaged_heads_are_rejected(blended, tmp_path):
    directory = tmp_path / "model"
    blended.export_data(str(directory))
    heads_file = directory / mgm_model.HEADS_FILE
    stored = safetensors.torch.load_file(str(heads_file))
    stored["linear.coef"][0, 0] = float("nan")
    safetensors.torch.save_file(stored, str(heads_file))
    with pytest.raises(mgm_model.ModelError, match="checksum"):
        mgm_model.load(directory)
    mgm_model.write_checksums(directory)
    with pytest.raises(mgm_model.ModelError, match="infinite or NaN"):
        mgm_model.load(directory)
    heads_file.unlink()
    (directory / "SHA256SUMS").unlink()
    with pytest.raises(mgm_model.ModelError, match="heads.safetensors is "
                                                   "missing"):
        mgm_model.load(directory)


def test_subset_metadata_has_both_diets():
    assert set(subset_metadata().to_dataframe()["diet"]) == {"BK", "Western"}


# --- command line ---------------------------------------------------------
@pytest.mark.slow
def test_cli_evaluations_feed_sample_classifier(data, tmp_path):  # noqa: F811
    from .test_classification import qiime
    table, taxonomy, metadata = data
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    metadata.save(str(tmp_path / "metadata.tsv"))
    inputs = ["--i-table", str(tmp_path / "table.qza"),
              "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
              "--m-metadata-file", str(tmp_path / "metadata.tsv"),
              "--m-groups-file", str(tmp_path / "metadata.tsv"),
              "--m-groups-column", "mouseID"]
    run = qiime("mgm", "classify-samples-cv", *inputs,
                "--m-metadata-column", "diet", "--p-cv", "3",
                "--output-dir", str(tmp_path / "cv"))
    assert run.returncode == 0, run.stderr
    matrix = qiime("sample-classifier", "confusion-matrix",
                   "--i-predictions", str(tmp_path / "cv" /
                                          "forest_predictions.qza"),
                   "--i-probabilities", str(tmp_path / "cv" /
                                            "forest_probabilities.qza"),
                   "--m-truth-file", str(tmp_path / "metadata.tsv"),
                   "--m-truth-column", "diet",
                   "--o-visualization", str(tmp_path / "matrix.qzv"))
    assert matrix.returncode == 0, matrix.stderr
    run = qiime("mgm", "regress-samples", *inputs,
                "--m-metadata-column", "relativeTime", "--p-strategy",
                "probe", "--output-dir", str(tmp_path / "regression"))
    assert run.returncode == 0, run.stderr
    scatter = qiime("sample-classifier", "scatterplot",
                    "--i-predictions", str(tmp_path / "regression" /
                                           "predictions.qza"),
                    "--m-truth-file", str(tmp_path / "metadata.tsv"),
                    "--m-truth-column", "relativeTime",
                    "--o-visualization", str(tmp_path / "scatter.qzv"))
    assert scatter.returncode == 0, scatter.stderr


def test_verdict_names_a_winner_only_when_its_interval_excludes_0():
    truth = pd.Series(list("aabb"), index=list("0123"))
    good = pd.DataFrame({"a": [.9, .8, .3, .2], "b": [.1, .2, .7, .8]},
                        index=truth.index)
    flat = pd.DataFrame({"a": [.9, .25, .3, .2], "b": [.1, .75, .7, .8]},
                        index=truth.index)
    wrong = good[["b", "a"]].set_axis(["a", "b"], axis=1)
    folds = pd.Series("test", index=truth.index)
    text, _ = evaluation.verdict("classification", truth,
                                 {"chosen": wrong, "baseline": good}, folds)
    assert text.startswith("baseline scored the highest ROC-AUC (1.000, "
                           "on the 4 held-out test samples), 1.000 above "
                           "chosen (0.000); the 95% interval of the "
                           "difference, +1.000 to +1.000, excludes 0.")
    text, _ = evaluation.verdict("classification", truth,
                                 {"A": good, "B": flat, "C": wrong}, folds)
    table = evaluation.compare("classification", truth,
                               {"A": good, "B": flat, "C": wrong}, folds)
    interval = table.loc["B", evaluation.INTERVAL]
    assert text.startswith(f"The data cannot tell A and B apart on ROC-AUC: "
                           f"A 1.000, B 0.750 (on the 4 held-out test "
                           f"samples), and the 95% interval of the "
                           f"difference, {interval}, includes 0.")
    assert "scored" not in text.split(".")[0]
    assert "fold" not in " ".join(table.columns)


def report_of(n, folds, shift, tmp_path):
    """The comparison report of made-up probabilities of ``n`` samples:
    the strategy's scores are the truth plus noise, the forest's are less
    sharp by ``shift``, the probe's are noise."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(n)]
    truth = pd.Series(np.where(np.arange(n) % 2, "case", "control"),
                      index=pd.Index(ids, name="sample-id"), name="label")
    signal = (truth == "case").to_numpy() * 1.0

    def probabilities(score):
        case = 1 / (1 + np.exp(-score))
        return qiime2.Artifact.import_data(
            "SampleData[Probabilities]", pd.DataFrame(
                {"case": case, "control": 1 - case},
                index=pd.Index(ids, name="SampleID")))
    noise = rng.normal(size=n)
    made = {name: probabilities(score) for name, score in (
        ("chosen", 2 * signal + noise),
        ("forest", (2 - shift) * signal + noise + rng.normal(size=n) * shift),
        ("probe", rng.normal(size=n)))}
    fold_table = qiime2.Metadata(pd.DataFrame(
        {"fold": folds}, index=pd.Index(ids, name="sample-id")))
    visualization, = summarize_cross_validation(
        probabilities=made["chosen"], truth=qiime2.CategoricalMetadataColumn(
            truth), folds=fold_table, forest_probabilities=made["forest"],
        probe_probabilities=made["probe"], strategy="probe")
    visualization.export_data(str(tmp_path))
    page = html.unescape((tmp_path / "index.html").read_text())
    intro = page[page.index("<p>", page.index("<body")) + 3:]
    intro = intro[:intro.index("</p>")]
    comparison = pd.read_csv(tmp_path / "comparison.tsv", sep="\t",
                             index_col=0)
    return page, intro, comparison


def test_single_split_report_reads_as_one_split(tmp_path):
    n = 30
    page, intro, comparison = report_of(n, ["test"] * n, 0.3, tmp_path)
    forest = "RandomForest (genus table)"
    interval = comparison.loc[forest, evaluation.INTERVAL]
    low = float(interval.split(" to ")[0])
    assert low <= 0   # the two cannot be told apart on 30 samples
    chosen = "MGM embeddings + logistic regression"
    # The strategy scored higher, by less than the interval's width.
    assert intro.startswith(f"The data cannot tell {chosen} and {forest} "
                            "apart on ROC-AUC:")
    assert f"the 95% interval of the difference, {interval}, includes 0" \
        in intro
    assert f"on the {n} held-out test samples" in intro
    for absent in ("sign-flip", "one line per fold", "all samples",
                   "per fold", "folds better", "mean of folds"):
        assert absent not in page, absent
    assert list(comparison.columns) == ["ROC-AUC difference",
                                        evaluation.INTERVAL]


def test_cv_report_names_a_winner_only_beyond_its_interval(tmp_path):
    n = 200
    folds = [str(i % 5 + 1) for i in range(n)]
    page, intro, comparison = report_of(n, folds, 1.5, tmp_path)
    forest = "RandomForest (genus table)"
    interval = comparison.loc[forest, evaluation.INTERVAL]
    assert float(interval.split(" to ")[0]) > 0
    assert intro.startswith("MGM embeddings + logistic regression scored "
                            "the highest ROC-AUC (")
    assert "mean of 5 folds" in intro
    assert f"above {forest}" in intro
    assert f"the 95% interval of the difference, {interval}, excludes 0" \
        in intro
    assert "sign-flip" in page and "with 5 folds no p can fall below " \
        "0.062" in page
