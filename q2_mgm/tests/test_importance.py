"""Each predictor's own importance of each genus, read by
q2-sample-classifier, and the training summary of each strategy."""
import html

import pandas as pd
import pytest
import qiime2
from qiime2.plugins.mgm.actions import (collapse_genera, fit_classifier,
                                        fit_regressor, regress_samples_cv,
                                        summarize_training)
from qiime2.plugins.sample_classifier.actions import fit_classifier as \
    sample_classifier_forest
from scipy.stats import spearmanr

from ..mgm.heads import FOREST_TREES
from ..mgm.model import MGMModel
from .test_classification import data  # noqa: F401
from .test_classification import assert_heatmap_picks_the_top, export_page

DISEASE = "/work/shared/data/disease/UC_Metagenomics_3"
STRATEGIES = ("forest", "probe", "blend", "fine-tune")
FAST = {"epochs": 1, "batch_size": 8, "device": "cpu", "random_state": 1}


@pytest.fixture(scope="module")
def fits(data):  # noqa: F811
    """(classifier, importance) of a strategy, fitted once on the diets."""
    table, taxonomy, metadata = data
    done = {}

    def fitted(strategy):
        if strategy not in done:
            done[strategy] = fit_classifier(
                table, taxonomy, metadata.get_column("diet"),
                strategy=strategy, **FAST)
        return done[strategy]
    return fitted


@pytest.fixture(scope="module")
def genera(data):  # noqa: F811
    table, taxonomy, _ = data
    return collapse_genera(table=table, taxonomy=taxonomy)[0]


# Permutation importance predicts every training sample again per shuffle.
@pytest.mark.parametrize("strategy", [
    "forest", *(pytest.param(s, marks=pytest.mark.slow)
                for s in STRATEGIES[1:])])
def test_fit_classifier_importance_drives_the_heatmap(
        data, fits, genera, strategy):  # noqa: F811
    classifier, importance = fits(strategy)
    assert_heatmap_picks_the_top(importance, genera,
                                 data[2].get_column("diet"))
    values = importance.view(pd.DataFrame)["importance"]
    model = classifier.view(MGMModel)
    if strategy == "forest":
        assert values.sum() == pytest.approx(1.0)
        assert (values >= 0).all()
    elif strategy != "fine-tune" and \
            model.manifest["weights"].get("forest", 0) < 1:
        # Permutation importance: the diet's marker, Prevotella, far first.
        assert values.index[0] == "g__Prevotella"


@pytest.mark.slow
def test_regression_importance_drives_the_heatmap(data, genera):  # noqa
    table, taxonomy, metadata = data
    days = metadata.get_column("relativeTime")
    _, importance = fit_regressor(table, taxonomy, days, strategy="probe",
                                  **FAST)
    assert_heatmap_picks_the_top(importance, genera,
                                 metadata.get_column("diet"))
    result = regress_samples_cv(table, taxonomy, days, cv=2,
                                strategy="forest", random_state=1)
    assert_heatmap_picks_the_top(result.feature_importance, genera,
                                 metadata.get_column("diet"))
    # The mean of two forests' impurity importances still sums to 1.
    assert result.feature_importance.view(pd.DataFrame)[
        "importance"].sum() == pytest.approx(1.0)


def test_forest_importance_agrees_with_q2_sample_classifier():
    table = qiime2.Artifact.load(f"{DISEASE}-table.qza")
    taxonomy = qiime2.Artifact.load(f"{DISEASE}-taxonomy.qza")
    label = qiime2.Metadata.load(f"{DISEASE}-metadata.tsv").get_column(
        "label")
    _, ours = fit_classifier(table, taxonomy, label, strategy="forest",
                             random_state=0)
    genera, = collapse_genera(table=table, taxonomy=taxonomy)
    _, theirs = sample_classifier_forest(genera, label,
                                         n_estimators=FOREST_TREES,
                                         random_state=0)
    ours = ours.view(pd.DataFrame)["importance"]
    theirs = theirs.view(pd.DataFrame)["importance"]
    assert set(ours.index) == set(theirs.index)
    assert len(set(ours.index[:20]) & set(theirs.index[:20])) >= 18
    assert spearmanr(ours, theirs.reindex(ours.index))[0] > 0.95


def page_text(visualization):
    page = export_page(visualization)
    return html.unescape(page[page.index("<body"):])


def test_forest_summary_shows_the_forest(fits):
    classifier, importance = fits("forest")
    forest = page_text(summarize_training(classifier)[0])
    assert f"A random forest of {FOREST_TREES} trees" in forest
    oob = float(classifier.view(MGMModel).heads["forest.oob_score"][0])
    assert f"out-of-bag accuracy (each training sample predicted by the " \
        f"trees that did not draw it) is {oob:.3f}" in forest
    assert importance.view(pd.DataFrame).index[0] in forest
    for text in ("epoch", "learning_rate", "fine-tuned", "in the loss",
                 "patience", "pretrained model"):
        assert text not in forest, text


@pytest.mark.slow
def test_each_strategy_summary_describes_what_was_fitted(fits):
    pages = {s: page_text(summarize_training(fits(s)[0])[0])
             for s in STRATEGIES[1:]}
    assert "inverse penalty C is" in pages["probe"]
    assert "fold cross-validation within the training samples" in \
        pages["probe"]
    assert "epoch" not in pages["probe"]
    blend = fits("blend")[0].view(MGMModel).manifest
    weight = blend["weights"]["forest"]
    assert f"The forest's share of the blend is {weight:g}" in \
        pages["blend"]
    assert "Blend weight" in pages["blend"]
    tuned = pages["fine-tune"]
    for text in ("Loss per epoch", "learning_rate", "patience",
                 "The network was fine-tuned starting from a pretrained "
                 "model", "weigh more in the loss"):
        assert text in tuned, text
    assert "A random forest" not in tuned
