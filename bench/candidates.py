"""Candidate ways for MGM to add to a genus table in classification, tried
on the same folds as the strategies (``classification_cv.py
--candidates``). None is a strategy of the plugin: the adoption rule of
the README decides that.

Every candidate fits on a fold's training samples only (PCA, scaling,
penalties and weights included) and returns the test samples' class
probabilities.

- ``layers-probe``: logistic regression on richer frozen features: the
  mean-pooled states of layers 2, 4, 6 and 8 and the last ``<eos>`` state,
  standardised and reduced by PCA (at most 64 components).
- ``attention-forest``: the forest on attention-weighted abundances
  (relative abundance times the attention the genus receives) beside the
  abundances.
- ``forest+pcs`` / ``boosting+pcs``: one model on both: a random forest, or
  scikit-learn's HistGradientBoostingClassifier, on the genus abundances
  plus 8 principal components of the mean-pooled embeddings.
- ``stable-blend``: the blend with its forest weight chosen on inner
  cross-validation repeated over 5 seeds (scores averaged) instead of one.
"""
import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import (HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from q2_mgm.mgm import interpretation, strategies
from q2_mgm.mgm.engine import Engine

CANDIDATES = ("layers-probe", "attention-forest", "forest+pcs",
              "boosting+pcs", "stable-blend")
LAYERS = (2, 4, 6, 8)
COMPONENTS = 8
SEEDS = 5


class Features:
    """What the candidates read of a cohort's samples, computed once."""

    def __init__(self, pretrained, samples):
        self.samples = samples
        engine = Engine(pretrained, "cpu")
        self.mean = engine.embed(samples.sentences, "mean")
        self.layers = layer_states(pretrained.network, samples.sentences)
        received = interpretation.attention(engine, samples.sentences,
                                            pretrained.vocabulary)
        weights = received.matrix(pretrained.vocabulary)
        weights.columns = [pretrained.vocabulary.token_id(g)
                           for g in weights.columns]
        self.attention = weights.reindex(
            columns=samples.abundances.columns, fill_value=0.0).to_numpy()


def layer_states(network, sentences):
    """Per sample: the mean-pooled states of ``LAYERS`` and the last
    ``<eos>`` state (``transformers``' own forward, one sample at a
    time)."""
    rows = []
    with torch.inference_mode():
        for position in range(len(sentences)):
            ids = torch.as_tensor(sentences.sentence(position))[None]
            states = network.transformer(
                input_ids=ids, output_hidden_states=True).hidden_states
            rows.append(np.concatenate(
                [states[k][0].mean(0).numpy() for k in LAYERS]
                + [states[-1][0, -1].numpy()]))
    return np.array(rows)


def probe(features, labels, train, test, classes, seed):
    """Standardised, PCA-reduced logistic regression, penalty by inner
    5-fold ROC-AUC."""
    components = min(64, len(train) - 1, features.shape[1])
    model = make_pipeline(
        StandardScaler(), PCA(components, random_state=seed),
        LogisticRegressionCV(Cs=np.logspace(-4, 2, 7), cv=StratifiedKFold(
            5, shuffle=True, random_state=seed), scoring="roc_auc",
            max_iter=5000, class_weight="balanced"))
    model.fit(features[train], labels[train])
    return model.predict_proba(features[test])


def with_components(features, abundances, train):
    """Abundances plus ``COMPONENTS`` PCs of ``features`` (PCA of the
    training samples)."""
    pca = make_pipeline(StandardScaler(), PCA(COMPONENTS, random_state=0))
    pca.fit(features[train])
    return np.hstack([abundances, pca.transform(features)])


def predict(name, features, labels, train, test, classes, settings):
    """Class probabilities of the test samples (rows: ``test``) and the
    forest weight chosen (None where there is none)."""
    seed = settings.random_state
    abundances = features.samples.abundances.to_numpy()
    forest = RandomForestClassifier(500, random_state=seed, n_jobs=2)
    if name == "layers-probe":
        out = probe(features.layers, labels, train, test, classes, seed)
    elif name == "attention-forest":
        table = np.hstack([abundances, abundances * features.attention])
        out = forest.fit(table[train], labels[train]).predict_proba(
            table[test])
    elif name in ("forest+pcs", "boosting+pcs"):
        table = with_components(features.mean, abundances, train)
        model = forest if name == "forest+pcs" else \
            HistGradientBoostingClassifier(random_state=seed)
        out = model.fit(table[train], labels[train]).predict_proba(
            table[test])
    else:
        return stable_blend(features, labels, train, test, classes,
                            settings)
    return pd.DataFrame(out, columns=classes), None


def stable_blend(features, labels, train, test, classes, settings):
    """The blend, its weight chosen by inner cross-validation averaged
    over ``SEEDS`` seeds."""
    samples = strategies.Samples(
        features.samples.sentences, features.samples.abundances,
        features.mean, None).subset(train)
    targets = pd.Series(labels[train])
    parts = strategies.FrozenParts(
        strategies.Task(list(classes)), samples.abundances,
        features.mean[train], targets, None, settings.random_state,
        "balanced", settings.threads)
    scores = {}
    for seed in range(SEEDS):
        inner = strategies.splits.inner_splits(targets, True, seed)
        _, selection = parts.choose_weight(inner)
        for weight, value in selection["scores"].items():
            scores.setdefault(float(weight), []).append(value)
    mean = {w: np.nanmean(v) for w, v in scores.items()}
    weight = max(mean, key=mean.get)
    if not mean[weight] >= mean[1.0] + strategies.BLEND_MARGIN:
        weight = 1.0
    whole = np.arange(len(train))
    test_parts = strategies.FrozenParts(
        strategies.Task(list(classes)), features.samples.abundances,
        features.mean, pd.Series(labels), None, settings.random_state,
        "balanced", settings.threads)
    out = 0.0
    for part, share in (("forest", weight), ("linear", 1 - weight)):
        if share:
            arrays = parts.fit(part, whole)
            out = out + share * np.asarray(
                test_parts.predict(part, arrays, test))
    return pd.DataFrame(out, columns=classes), weight

