"""The library layer (``q2_mgm.mgm``) on its own, without QIIME 2: the
mouse example data from plain TSV files through tokens, embeddings, every
frozen strategy, a short fine-tuning, saving and loading, evaluation and
generation. ``make test-library`` runs these (with test_forward.py and
test_published.py) under Python 3.12 and numpy 2."""
import dataclasses
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest

from ..mgm import (evaluation, generation, heads, pretraining, splits,
                   strategies)
from ..mgm import model as mgm_model
from ..mgm.engine import Engine
from ..mgm.tokens import genus_table, tokenize
from ..mgm.training import FINE_TUNING
from . import _data

DATA = Path(__file__).parent / "data"
METADATA = Path(__file__).parents[1] / "example_data" / "mouse-metadata.tsv"
SETTINGS = dataclasses.replace(FINE_TUNING, device="cpu", threads=1,
                               epochs=1, random_state=0)


@pytest.fixture(scope="module")
def mouse():
    """Samples and metadata of 40 mouse samples, two diets."""
    counts = pd.read_csv(DATA / "mouse-table.tsv", sep="\t", index_col=0)
    taxonomy = pd.read_csv(DATA / "mouse-taxonomy.tsv", sep="\t",
                           index_col=0)["Taxon"]
    metadata = pd.read_csv(METADATA, sep="\t", index_col=0)
    keep = list(metadata.groupby("diet").head(20).index)
    table = biom.Table(counts[keep].to_numpy(float), list(counts.index),
                       keep)
    model = _data.pretrained()
    sentences, dropped = tokenize(table, taxonomy, model.vocabulary)
    assert dropped == []
    samples = strategies.samples_of(
        genus_table(table, taxonomy, model.vocabulary), model.vocabulary,
        sentences)
    return samples, metadata.loc[sentences.sample_ids]


def test_probe_is_solved_to_its_optimum(mouse):
    """The penalised logistic regression's gradient vanishes at the fitted
    coefficients: its answer is the optimum, not a solver's stopping
    point that moves between scikit-learn versions."""
    samples, metadata = mouse
    embeddings = Engine(_data.pretrained(), device="cpu").embed(
        samples.sentences, "mean")
    assert embeddings.dtype == np.float32
    scaled = (embeddings - embeddings.mean(0)) / embeddings.std(0)
    targets = metadata["diet"].to_numpy()
    folds = splits.kfold(len(targets), 5, 0, targets)
    model, _ = heads.fit_penalised("classification", scaled, targets,
                                   folds)
    positive = (targets == model.classes_[1]).astype(float)
    features = scaled.astype(np.float64)
    residual = model.predict_proba(features)[:, 1] - positive
    gradient = np.concatenate([features.T @ residual
                               + model.coef_[0] / model.C,
                               [residual.sum()]])
    assert np.abs(gradient).max() < 1e-5


@pytest.mark.parametrize("strategy", ["forest", "probe", "blend"])
def test_frozen_strategies_save_load_and_predict(mouse, strategy, tmp_path):
    samples, metadata = mouse
    targets = metadata["diet"]
    labels = sorted(targets.unique())
    fitted = strategies.fit(strategy, _data.pretrained(), samples, targets,
                            SETTINGS, labels=labels,
                            groups=metadata["mouseID"].to_numpy())
    engine = Engine(fitted, device="cpu")
    probabilities = strategies.predict(fitted, engine, samples)
    mgm_model.save(fitted, tmp_path)
    again = mgm_model.load(tmp_path)
    assert again.manifest["strategy"] == strategy
    np.testing.assert_allclose(
        strategies.predict(again, Engine(again, device="cpu"), samples),
        probabilities, rtol=0, atol=1e-12)
    np.testing.assert_allclose(probabilities.sum(1), 1)
    scores = evaluation.classification_scores(targets, probabilities)
    assert scores["samples"] == len(targets)
    assert scores["ROC-AUC"] > 0.7  # the diets differ strongly


def test_ridge_probe_predicts_a_number(mouse):
    samples, metadata = mouse
    targets = metadata["relativeTime"].astype(float)
    fitted = strategies.fit("probe", _data.pretrained(), samples, targets,
                            SETTINGS)
    predictions = strategies.predict(fitted, Engine(fitted, device="cpu"),
                                     samples)
    assert predictions.index.tolist() == list(samples.sentences.sample_ids)
    assert np.isfinite(predictions).all()
    assert set(evaluation.regression_scores(targets, predictions)) >= {
        "R²", "MAE"}


def test_fine_tuning_runs_one_epoch(mouse):
    samples, metadata = mouse
    targets = metadata["diet"]
    fitted = strategies.fit("fine-tune", _data.pretrained(), samples,
                            targets, SETTINGS, labels=sorted(set(targets)))
    assert len(fitted.manifest["history"]) == 1
    probabilities = strategies.predict(fitted, Engine(fitted, device="cpu"),
                                       samples)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-6)


def test_generated_samples_tokenize_back():
    model = _data.pretrained()
    table, taxonomy, _ = generation.generate_samples(
        model, 3, sampling=generation.Sampling(max_length=64, device="cpu", threads=1))
    sentences, dropped = tokenize(table, taxonomy, model.vocabulary)
    assert dropped == [] and len(sentences) == 3


def test_pretraining_runs_one_epoch():
    counts = pd.read_csv(DATA / "mouse-table.tsv", sep="\t", index_col=0)
    taxonomy = pd.read_csv(DATA / "mouse-taxonomy.tsv", sep="\t",
                           index_col=0)["Taxon"]
    table = biom.Table(counts.iloc[:, :30].to_numpy(float),
                       list(counts.index), list(counts.columns[:30]))
    trained = pretraining.pretrain_model(
        _data.pretrained(), table, taxonomy,
        settings=dataclasses.replace(SETTINGS, batch_size=8))
    assert trained.kind == "pretrained"
    assert len(trained.manifest["history"]) == 1
    assert all(np.isfinite(v) for v in trained.manifest["history"][0].values()
               if isinstance(v, float))
