"""Fine-tuned MGM sample classification: labels, network, splits, scores.

The classifier is GPT2ForSequenceClassification on the last real token of
a sentence (``<eos>``), its transformer copied from a pretrained (or
previously fine-tuned) MGM. Labels are sorted strings; the head's output
``i`` is ``labels[i]``. Everything random is drawn from ``random_state``.
"""
import logging
import math

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import (StratifiedGroupKFold, StratifiedKFold,
                                     train_test_split)
from transformers import GPT2Config

from . import training
from . import interpretation as interpret
from .engine import Engine
from .model import MGMModel, build_network
from .vocabulary import PAD

log = logging.getLogger("q2_mgm")

CLASS_WEIGHTS = ("balanced", "none")


def check_classes(labels):
    classes = sorted(labels.unique())
    if len(classes) < 2:
        raise ValueError(
            f"A classifier needs at least two classes; {labels.name!r} has "
            f"{len(classes)} ({', '.join(classes) or 'none'}) among the "
            f"{len(labels)} samples used. Pick a column with two or more "
            "groups, or check the sample filtering.")
    return classes


def check_class_sizes(labels, minimum, purpose):
    """Every class needs ``minimum`` samples for ``purpose``."""
    counts = labels.value_counts()
    small = counts[counts < minimum]
    if len(small):
        shown = ", ".join(f"{k!r} ({v})" for k, v in small.items())
        raise ValueError(
            f"{purpose} needs at least {minimum} samples per class, but "
            f"{shown} of {labels.name!r} have fewer. Remove or merge the "
            "rare classes (`qiime feature-table filter-samples --p-where`), "
            "or lower the number of folds / the held-out fractions.")


def minimum_per_class(validation_fraction):
    """Samples a class needs for fitting (one more with validation)."""
    return 2 if validation_fraction > 0 else 1


def classifier_network(start, labels, random_state):
    """A sequence classifier for ``labels`` with ``start``'s transformer.

    The head of a classifier ``start`` with the same labels is kept; any
    other head is freshly initialised. Returns ``(network, head_kept)``.
    """
    config = GPT2Config.from_dict(start.network.config.to_dict())
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.pad_token_id = PAD
    torch.manual_seed(random_state)
    network = build_network(config, "classifier")
    network.transformer.load_state_dict(start.backbone.state_dict())
    head_kept = start.kind == "classifier" and start.labels == list(labels)
    if head_kept:
        network.score.load_state_dict(start.network.score.state_dict())
    return network, head_kept


def class_weights(targets, n_classes, class_weight):
    """Per-class loss weights: inverse frequency when ``balanced``."""
    if class_weight == "none":
        return None
    counts = np.bincount(targets, minlength=n_classes).astype(np.float64)
    weights = len(targets) / (n_classes * np.maximum(counts, 1))
    return torch.as_tensor(weights, dtype=torch.float32)


def cross_entropy(targets, weights):
    """``batch_loss`` for ``training.train``: weighted cross-entropy."""
    targets = torch.as_tensor(targets, dtype=torch.long)

    def batch_loss(network, ids, positions):
        logits = network(input_ids=ids).logits
        weight = None if weights is None else weights.to(logits.device)
        return torch.nn.functional.cross_entropy(
            logits, targets[positions].to(logits.device), weight=weight)
    return batch_loss


def fine_tune(start, sentences, labels, settings, class_weight="balanced"):
    """Fine-tune ``start`` on ``sentences`` (aligned with ``labels``).

    Returns the classifier ``MGMModel``; its manifest records the labels,
    settings, per-epoch history, class counts and the starting model.
    """
    classes = check_classes(labels)
    targets = labels.map({c: i for i, c in enumerate(classes)}).to_numpy()
    train_pos, val_pos = training.validation_split(
        len(targets), settings.validation_fraction, settings.random_state,
        strata=targets)
    network, head_kept = classifier_network(start, classes,
                                            settings.random_state)
    if start.kind == "classifier" and not head_kept:
        log.info("The starting classifier's labels %s differ from %s: its "
                 "classification head is re-initialised.", start.labels,
                 classes)
    weights = class_weights(targets[train_pos], len(classes), class_weight)
    model = MGMModel(network, start.vocabulary, {"kind": "classifier"})
    engine = Engine(model, device=settings.device, threads=settings.threads)
    history = training.train(engine, sentences, train_pos, val_pos,
                             cross_entropy(targets, weights), settings)
    model.manifest = {
        "kind": "classifier", "labels": classes,
        "max_length": start.max_length, "pooling": "eos",
        "label_column": labels.name,
        "parameters": {**settings.as_dict(), "class_weight": class_weight},
        "history": history,
        "class_counts": {
            "training": class_counts(labels.iloc[train_pos], classes),
            "validation": class_counts(labels.iloc[val_pos], classes)},
        "start_model": {"kind": start.kind, "labels": start.labels,
                        "head": "kept" if head_kept else "new",
                        "source": start.manifest.get("source", {})},
        "source": start.manifest.get("source", {}),
    }
    return model


def class_counts(labels, classes):
    return {c: int((labels == c).sum()) for c in classes}


def require_classifier(model):
    if model.kind != "classifier":
        raise ValueError(
            "This MGM model is a pretrained language model, not a "
            "classifier. Fine-tune it first with `qiime mgm fit-classifier` "
            "(or `classify-samples`) and predict with the resulting model.")


def predict(engine, sentences):
    """Predicted class and class probabilities of every sentence."""
    model = engine.model
    require_classifier(model)
    logits = engine.logits(sentences).astype(np.float64)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    index = pd.Index(sentences.sample_ids, name="SampleID")
    labels = np.array(model.labels, dtype=object)
    predictions = pd.Series(labels[probabilities.argmax(1)], index=index,
                            name="prediction")
    return predictions, pd.DataFrame(probabilities, index=index,
                                     columns=model.labels)


def attention_importance(engine, sentences):
    """Mean attention each genus receives where it occurs (``g__Name``).

    The same quantity as ``attention-importance`` without groups, most
    attended first.
    """
    vocabulary = engine.model.vocabulary
    received = interpret.attention(engine, sentences, vocabulary)
    return interpret.importance(received.matrix(vocabulary),
                                received.presence(vocabulary)
                                )[["importance"]]


def holdout_split(labels, test_size, random_state, min_train=2):
    """Stratified (train IDs, test IDs) of ``labels``."""
    n_test = math.ceil(test_size * len(labels))
    n_classes = labels.nunique()
    check_class_sizes(labels, 1 + min_train, "A train/test split")
    if n_test < n_classes or len(labels) - n_test < n_classes * min_train:
        raise ValueError(
            f"test_size={test_size} puts {n_test} of {len(labels)} samples "
            f"in the test set; a stratified split of {n_classes} classes "
            "needs at least one test sample per class and "
            f"{min_train} training samples per class. Change test_size.")
    train, test = train_test_split(labels.index, test_size=n_test,
                                   stratify=labels.to_numpy(),
                                   random_state=random_state)
    return train.sort_values(), test.sort_values()


def check_fold_training_sets(labels, fold, minimum):
    """Before any training: every fold's training set has every class."""
    for k in sorted(fold.unique()):
        training = labels[fold != k]
        missing = sorted(set(labels) - set(training))
        if missing:
            raise ValueError(
                f"Fold {k} would train without class(es) {missing}: its "
                "other folds hold none of their samples. Use fewer folds or "
                "remove the rare classes.")
        check_class_sizes(training, minimum,
                          f"Fine-tuning on the training part of fold {k}")


def cv_folds(labels, folds, random_state, groups=None):
    """Fold (1..``folds``) of each sample; groups stay within one fold."""
    check_class_sizes(labels, folds, f"{folds}-fold cross-validation")
    if groups is None:
        splitter = StratifiedKFold(folds, shuffle=True,
                                   random_state=random_state)
    else:
        groups = check_groups(labels, groups, folds)
        splitter = StratifiedGroupKFold(folds, shuffle=True,
                                        random_state=random_state)
    fold = pd.Series(0, index=labels.index, name="fold")
    for k, (_, test) in enumerate(splitter.split(
            np.zeros(len(labels)), labels.to_numpy(), groups), start=1):
        fold.iloc[test] = k
    return fold


def check_groups(labels, groups, folds):
    """Group of each sample as an array; every class needs ``folds``."""
    groups = groups.reindex(labels.index)
    if groups.isna().any():
        missing = groups.index[groups.isna()]
        raise ValueError(
            f"{len(missing)} sample(s) have no {groups.name!r} group: "
            f"{', '.join(map(str, missing[:10]))}. Fill in the group "
            "column for every sample used.")
    groups = groups.astype(str)
    per_class = groups.groupby(labels).nunique()
    small = per_class[per_class < folds]
    if len(small):
        shown = ", ".join(f"{k!r} ({v})" for k, v in small.items())
        raise ValueError(
            f"{folds}-fold cross-validation with groups needs at least "
            f"{folds} {groups.name!r} groups per class, but {shown} have "
            "fewer. Lower the number of folds (cv).")
    return groups.to_numpy()


def roc_auc(truth, probabilities):
    """Macro one-vs-rest ROC-AUC over classes with both outcomes (NaN: none).

    For two classes this is the ordinary ROC-AUC.
    """
    scores = []
    for label in probabilities.columns:
        positive = (truth == label).to_numpy()
        if 0 < positive.sum() < len(positive):
            scores.append(roc_auc_score(positive, probabilities[label]))
    return float(np.mean(scores)) if scores else float("nan")


def scores(truth, predictions, probabilities):
    """Accuracy, macro F1 and ROC-AUC of predictions against the truth."""
    truth = truth.reindex(predictions.index).astype(str)
    predictions = predictions.astype(str)
    return {"samples": len(truth),
            "accuracy": float((truth == predictions).mean()),
            "F1 (macro)": float(f1_score(truth, predictions,
                                         average="macro", zero_division=0)),
            "ROC-AUC": roc_auc(truth, probabilities.reindex(truth.index))}
