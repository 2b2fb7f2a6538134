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
  abundances; ``rank-forest`` is its control without MGM: the same with
  the attention a genus would receive at its rank if every position
  attended equally to those before it.
- ``forest+pcs`` / ``boosting+pcs``: one model on both: a random forest, or
  scikit-learn's HistGradientBoostingClassifier, on the genus abundances
  plus 8 principal components of the mean-pooled embeddings.
- ``stable-blend``: the blend with its forest weight chosen on inner
  cross-validation repeated over 5 seeds (scores averaged) instead of one.
"""
import functools

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

CANDIDATES = ("layers-probe", "attention-forest", "rank-forest",
              "forest+pcs", "boosting+pcs", "stable-blend")
LAYERS = (2, 4, 6, 8)
COMPONENTS = 8
SEEDS = 5


class Features:
    """What the candidates read of a cohort's samples, each computed once
    when first read."""

    def __init__(self, pretrained, samples):
        self.pretrained, self.samples = pretrained, samples
        self.engine = Engine(pretrained, "cpu")

    @functools.cached_property
    def mean(self):
        return self.engine.embed(self.samples.sentences, "mean")

    @functools.cached_property
    def layers(self):
        return layer_states(self.pretrained.network, self.samples.sentences)

    @functools.cached_property
    def attention(self):
        vocabulary = self.pretrained.vocabulary
        received = interpretation.attention(
            self.engine, self.samples.sentences, vocabulary)
        return self._per_genus(received.matrix(vocabulary))

    @functools.cached_property
    def uniform(self):
        """The attention each genus would receive if every position
        attended equally to itself and the positions before it: token p
        of a sentence of n gets the sum of 1/(q + 1) over q from p to
        n - 1 (a control for ``attention``: rank alone)."""
        sentences = self.samples.sentences
        rows = []
        for position in range(len(sentences)):
            tokens = sentences.sentence(position)
            share = 1 / np.arange(1, len(tokens) + 1)
            rows.append(pd.Series(share[::-1].cumsum()[::-1][1:-1],
                                  index=tokens[1:-1]))
        weights = pd.DataFrame(rows).fillna(0.0)
        weights.index = sentences.sample_ids
        return weights.reindex(columns=self.samples.abundances.columns,
                               fill_value=0.0).to_numpy()

    def _per_genus(self, weights):
        weights.columns = [self.pretrained.vocabulary.token_id(g)
                           for g in weights.columns]
        return weights.reindex(columns=self.samples.abundances.columns,
                               fill_value=0.0).to_numpy()


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
    elif name in ("attention-forest", "rank-forest"):
        weight = (features.attention if name == "attention-forest"
                  else features.uniform)
        table = np.hstack([abundances, abundances * weight])
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

