"""Sample predictors (classifiers and regressors): the strategies that fit
them, and prediction with any of them.

A predictor is a weighted mix of up to three parts: the MGM network
fine-tuned with a prediction head (``network``), a random forest on genus
relative abundances (``forest``) and a linear model on frozen mean-pooled
MGM embeddings (``linear``). A strategy fixes the parts and their weights:

- ``blend``: forest and linear; the forest's weight w in 0, 1/4, 1/2, 3/4
  or 1 is chosen by cross-validation within the training samples (w < 1
  only when it beats the forest alone there by ``BLEND_MARGIN``);
- ``probe``: linear only; ``forest``: the forest only;
- ``fine-tune``: the network only (the published method);
- ``lp-ft``: the network, its head first fitted on the frozen states
  (linear probing, then fine-tuning);
- ``ensemble``: the fine-tuned network and the forest, equal weights.
"""
import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import evaluation, finetuning, heads, splits
from .engine import Engine
from .model import (PACKAGED_NETWORK, MGMModel, build_network,
                    network_class, packaged_digests)

STRATEGIES = ("blend", "probe", "forest", "fine-tune", "lp-ft", "ensemble")
# Decimals kept of a standardised regression target (float64 holds ~16).
STANDARD_DIGITS = 9
DEFAULT_STRATEGY = "forest"  # the evidence: README, bench/classification_cv.py
BASELINES = ("forest", "probe")
BLEND_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # ties go to the forest
# The forest alone is kept unless a blend scores this much better in the
# inner folds (ROC-AUC or R²): inner scores of tens of samples are noisy,
# and a small inner gain is more often noise than signal.
BLEND_MARGIN = 0.01
TUNED = ("fine-tune", "lp-ft", "ensemble")   # strategies that train MGM
NAMES = {"blend": "MGM blend (forest + probe)",
         "probe": "MGM embeddings + {linear}",
         "forest": "RandomForest (genus table)",
         "fine-tune": "MGM fine-tuned", "lp-ft": "MGM LP-FT",
         "ensemble": "MGM ensemble (fine-tuned + forest)"}


def method_name(strategy, task):
    """How reports name a strategy (``task``: classification/regression)."""
    linear = "logistic regression" if task == "classification" else "ridge"
    return NAMES.get(strategy, strategy).format(linear=linear)


@dataclass
class Samples:
    """What predictors see of each sample: its MGM sentence and its
    relative abundance of each vocabulary genus (columns: token ids);
    optionally its mean-pooled embedding by ``network``, computed once
    for every predictor of an evaluation that uses that network frozen."""

    sentences: object
    abundances: pd.DataFrame
    embeddings: np.ndarray = None
    network: object = None

    def subset(self, positions):
        return Samples(self.sentences.subset(positions),
                       self.abundances.iloc[positions],
                       None if self.embeddings is None
                       else self.embeddings[positions], self.network)

    def embed(self, network, engine):
        """Mean-pooled embeddings by ``network`` (its engine: ``engine``),
        the stored ones when they are its."""
        if self.embeddings is not None and network is self.network:
            return self.embeddings
        return engine.embed(self.sentences, "mean")


def embedded(samples, start, settings):
    """``samples`` with their embeddings by ``start``'s network, where
    predictors use it frozen as it is (a pretrained model)."""
    if network_class(start.manifest) != "pretrained":
        return samples
    network = start.network
    engine = Engine(MGMModel(network, start.vocabulary,
                             {"kind": "pretrained"}),
                    device=settings.device, threads=settings.threads)
    return Samples(samples.sentences, samples.abundances,
                   engine.embed(samples.sentences, "mean"), network)


def samples_of(genera, vocabulary, sentences):
    """``Samples`` of the sentences' samples of a ``GenusTable``."""
    counts = genera.counts.toarray()
    totals = counts.sum(1, keepdims=True)
    relative = np.divide(counts, totals, out=np.zeros_like(counts),
                         where=totals > 0)
    abundances = pd.DataFrame(
        relative, index=genera.sample_ids,
        columns=vocabulary.genus_ids[genera.genus_positions])
    return Samples(sentences, abundances.loc[sentences.sample_ids])


def frozen_network(start):
    """``start``'s transformer as a language model (no prediction head)."""
    if network_class(start.manifest) == "pretrained":
        return start.network
    network = build_network(copy.deepcopy(start.network.config),
                            "pretrained")
    network.transformer.load_state_dict(start.backbone.state_dict())
    return network.eval()


def present_genera(abundances):
    """Token ids of the genera present in any of the samples."""
    return abundances.columns[(abundances > 0).any().to_numpy()]


def forest_features(abundances, genera):
    """Abundance columns in the forest's genus order (absent: 0)."""
    return abundances.reindex(columns=genera, fill_value=0.0).to_numpy()


# Fitting --------------------------------------------------------------------

def standardisation(values):
    """Mean and standard deviation (1 where the values do not vary),
    computed in units of the largest magnitude so that nothing overflows."""
    values = np.asarray(values, dtype=np.float64)
    unit = float(np.abs(values).max()) or 1.0
    scaled = values / unit
    return float(scaled.mean() * unit), float(scaled.std() * unit) or 1.0


def in_target_units(arrays, mean, scale):
    """Forest and linear arrays fitted on standardised values, made to
    predict in the target's units (both predict affinely in the target)."""
    out = dict(arrays)
    if "forest.value" in out:
        out["forest.value"] = out["forest.value"].double() * scale + mean
    if "linear.coef" in out:
        out["linear.coef"] = out["linear.coef"].double() * scale
        out["linear.intercept"] = (out["linear.intercept"].double() * scale
                                   + mean)
    return out


@dataclass
class Task:
    """What is predicted: classes (``labels``) or a value (``None``)."""

    labels: list = None

    @property
    def name(self):
        return "regression" if self.labels is None else "classification"

    @property
    def kind(self):
        return "regressor" if self.labels is None else "classifier"

    def encode(self, targets):
        """Class indices, or values standardised to mean 0, sd 1 and
        rounded to ``STANDARD_DIGITS`` decimals, so that the unit's
        rounding never reaches the fit (days, hours or seconds give the
        same standardised values, hence the same forest)."""
        if self.labels is not None:
            return targets.map({c: i for i, c in enumerate(self.labels)}
                               ).to_numpy()
        mean, scale = standardisation(targets)
        return np.round((targets.to_numpy(dtype=np.float64) - mean) / scale,
                        STANDARD_DIGITS)


def fit(strategy, start, samples, targets, settings, labels=None,
        class_weight="balanced", groups=None):
    """Fit a predictor of ``targets`` (class labels with ``labels`` their
    sorted classes, else numbers) with ``strategy``, starting from the MGM
    model ``start``. ``groups`` (subjects) keep every split whole."""
    task = Task(labels)
    groups = None if groups is None else np.asarray(groups)
    estimators, record = {}, {}
    if strategy in TUNED:
        network, record = finetuning.fine_tune(
            start, samples.sentences, task.encode(targets), settings,
            labels, class_weight, groups, probe_first=strategy == "lp-ft")
        record["train"] = targets.index[record["train"]]
        record["validation"] = targets.index[record["validation"]]
    else:
        network = frozen_network(start)
    uses = {"blend": ("forest", "linear"), "probe": ("linear",),
            "forest": ("forest",), "ensemble": ("forest",)}.get(strategy, ())
    embeddings = None
    if "linear" in uses:
        engine = Engine(MGMModel(network, start.vocabulary,
                                 {"kind": "pretrained"}),
                        device=settings.device, threads=settings.threads)
        embeddings = samples.embed(network, engine)
    classes = labels is not None
    # Regressors are fitted on standardised values (nothing overflows
    # whatever the unit), then made to predict in the target's units.
    fitted = FrozenParts(task, samples.abundances, embeddings,
                         targets if classes else pd.Series(
                             task.encode(targets), index=targets.index),
                         groups, settings.random_state, class_weight,
                         settings.threads)
    for part in uses:
        estimators.update(fitted.fit(part, np.arange(len(targets))))
    if not classes:
        estimators = in_target_units(estimators, *standardisation(targets))
    weights = {"blend": None, "probe": {"linear": 1.0},
               "forest": {"forest": 1.0}, "fine-tune": {"network": 1.0},
               "lp-ft": {"network": 1.0},
               "ensemble": {"network": 0.5, "forest": 0.5}}[strategy]
    selection = None
    if strategy == "blend":
        inner = splits.inner_splits(targets, classes, settings.random_state,
                                    groups)
        weight, selection = fitted.choose_weight(inner)
        weights = {"forest": weight, "linear": 1.0 - weight}
    manifest = {
        "kind": task.kind, "strategy": strategy,
        "network": network_class({"kind": task.kind}) if strategy in TUNED
        else "pretrained",
        "weights": weights, "max_length": start.max_length,
        "label_column": targets.name,
        "parameters": {**settings.as_dict(), "strategy": strategy,
                       "class_weight": class_weight},
        "start_model": {"kind": start.kind, "labels": start.labels,
                        "head": record.get("head", "none"),
                        "source": start.manifest.get("source", {})},
        "source": start.manifest.get("source", {})}
    if selection is not None:
        manifest["blend_selection"] = selection
    if strategy not in TUNED and start.packaged \
            and network is start.network:
        # Store a reference to the packaged network, not a 33 MB copy.
        manifest[PACKAGED_NETWORK] = packaged_digests()
    if classes:
        manifest["labels"] = list(labels)
        manifest["pooling"] = "eos" if strategy in TUNED else "mean"
    else:
        mean, scale = standardisation(targets)
        manifest["target"] = {"mean": mean, "scale": scale}
    if strategy in TUNED:
        manifest["history"] = record["history"]
        manifest["samples"] = {"training": len(record["train"]),
                               "validation": len(record["validation"])}
        if classes:
            manifest["class_counts"] = {
                "training": class_counts(targets[record["train"]], labels),
                "validation": class_counts(targets[record["validation"]],
                                           labels)}
    elif classes:
        manifest["class_counts"] = {"training": class_counts(targets,
                                                             labels)}
    model = MGMModel(network.cpu(), start.vocabulary, manifest, estimators,
                     packaged=PACKAGED_NETWORK in manifest)
    return model


def class_counts(labels, classes):
    return {c: int((labels == c).sum()) for c in classes}


class FrozenParts:
    """The forest and linear parts of one training set, fitted on any
    subset of it (for the inner folds that choose the blend weight)."""

    def __init__(self, task, abundances, embeddings, targets, groups,
                 random_state, class_weight, threads):
        self.task = task
        self.abundances = abundances
        self.embeddings = embeddings
        self.targets = targets.to_numpy()
        self.groups = groups
        self.random_state = random_state
        self.class_weight = None if class_weight == "none" else "balanced"
        self.threads = threads

    def fit(self, part, positions):
        """The part's tensors, fitted on ``positions``."""
        targets = self.targets[positions]
        present = self.abundances.iloc[positions]
        genera = present_genera(present)
        known = {f"{part}.genera": torch.as_tensor(
            np.asarray(genera, dtype=np.int64))}
        if part == "forest":
            forest = heads.fit_forest(
                present[genera].to_numpy(), targets, self.task.name,
                self.random_state, self.threads)
            return {**heads.forest_arrays(forest), **known}
        inner = splits.inner_splits(
            targets, self.task.labels is not None, self.random_state,
            None if self.groups is None else self.groups[positions])
        return {**heads.fit_linear(self.embeddings[positions], targets,
                                   self.task.name, inner, self.class_weight),
                **known}

    def predict(self, part, arrays, positions):
        if part == "forest":
            return forest_part(self.task, arrays,
                               self.abundances.iloc[positions])
        return linear_part(self.task, arrays, self.embeddings[positions])

    def choose_weight(self, inner):
        """The forest weight whose blend of out-of-fold predictions scores
        best, and the score of every weight."""
        index = pd.RangeIndex(len(self.targets))
        out = {part: [] for part in ("forest", "linear")}
        for train, test in inner:
            for part in out:
                arrays = self.fit(part, train)
                out[part].append(pd.DataFrame(
                    np.asarray(self.predict(part, arrays, test)).reshape(
                        len(test), -1), index=index[test]))
        forest = pd.concat(out["forest"]).sort_index()
        linear = pd.concat(out["linear"]).sort_index()
        truth = pd.Series(self.targets, index=index)
        scored = {}
        for weight in BLEND_WEIGHTS:
            mixed = weight * forest + (1 - weight) * linear
            if self.task.labels is None:
                mixed = mixed[0]
            else:
                mixed.columns = self.task.labels
            scored[weight] = evaluation.score(
                self.task.name, truth, mixed)[evaluation.PRIMARY[
                    self.task.name]]
        best = max(BLEND_WEIGHTS, key=lambda w: np.nan_to_num(
            scored[w], nan=-np.inf))
        if not scored[best] >= scored[1.0] + BLEND_MARGIN:
            best = 1.0
        return best, {"metric": evaluation.PRIMARY[self.task.name],
                      "folds": len(inner), "margin": BLEND_MARGIN,
                      "scores": {str(w): scored[w] for w in BLEND_WEIGHTS}}


# Prediction -----------------------------------------------------------------

def forest_part(task, arrays, abundances):
    features = forest_features(abundances,
                               arrays["forest.genera"].numpy())
    out = heads.forest_predict(arrays, features)
    return out[:, 0] if task.labels is None else out


def linear_part(task, arrays, embeddings):
    return heads.linear_predict(arrays, embeddings, task.name)


def network_part(task, model, engine, sentences):
    logits = engine.logits(sentences).astype(np.float64)
    if task.labels is None:
        target = model.manifest["target"]
        return logits[:, 0] * target["scale"] + target["mean"]
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    return probabilities / probabilities.sum(1, keepdims=True)


def predict(model, engine, samples):
    """Class probabilities (a DataFrame, one column per class) or
    predicted values (a Series) of every sample."""
    task = Task(model.labels if model.kind == "classifier" else None)
    weights = model.manifest.get("weights", {"network": 1.0})
    total = 0.0
    for part, weight in weights.items():
        if weight == 0:
            continue
        if part == "network":
            out = network_part(task, model, engine, samples.sentences)
        elif part == "forest":
            out = forest_part(task, model.heads, samples.abundances)
        else:
            out = linear_part(task, model.heads,
                              samples.embed(model.network, engine))
        total = total + weight * out
    index = pd.Index(samples.sentences.sample_ids, name="SampleID")
    if task.labels is None:
        return pd.Series(total, index=index, name="prediction")
    return pd.DataFrame(total, index=index, columns=task.labels)
