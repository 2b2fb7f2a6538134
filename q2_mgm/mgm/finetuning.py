"""Fine-tuning MGM to predict a sample property (class or value).

The network is GPT2ForSequenceClassification on the last real token of a
sentence (``<eos>``), its transformer copied from the starting model. A
classifier has one output per class (labels sorted; output ``i`` is
``labels[i]``), trained with (class-weighted) cross-entropy; a regressor has
one output, the standardised target, trained with squared error. With
``probe_first`` (LP-FT, Kumar et al. 2022) the head starts from a linear
model fitted on the frozen ``<eos>`` states before the whole network is
trained. Everything random is drawn from ``random_state``.
"""
import logging

import numpy as np
import torch
from transformers import GPT2Config

from . import heads, training
from .engine import Engine
from .model import MGMModel, build_network
from .splits import inner_splits
from .vocabulary import PAD

log = logging.getLogger("q2_mgm")

CLASS_WEIGHTS = ("balanced", "none")


def sequence_network(start, labels, random_state):
    """A sequence network with ``start``'s transformer and one output per
    label (``labels=None``: one output, a regressor).

    The head of a predictor ``start`` with the same outputs is kept; any
    other head is freshly initialised. Returns ``(network, head_kept)``.
    """
    config = GPT2Config.from_dict(start.network.config.to_dict())
    names = ["value"] if labels is None else list(labels)
    config.id2label = dict(enumerate(names))
    config.label2id = {label: i for i, label in enumerate(names)}
    config.pad_token_id = PAD
    torch.manual_seed(random_state)
    network = build_network(config, "classifier")
    network.transformer.load_state_dict(start.backbone.state_dict())
    kind = "classifier" if labels is not None else "regressor"
    head_kept = (start.kind == kind and hasattr(start.network, "score")
                 and start.labels == list(labels or []))
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


def squared_error(targets):
    """``batch_loss`` for ``training.train``: mean squared error."""
    targets = torch.as_tensor(targets, dtype=torch.float32)

    def batch_loss(network, ids, positions):
        predicted = network(input_ids=ids).logits[:, 0]
        return torch.nn.functional.mse_loss(
            predicted, targets[positions].to(predicted.device))
    return batch_loss


def probe_head(network, engine, sentences, positions, targets, n_classes,
               groups, class_weight, random_state):
    """LP-FT's first step: fit the head on frozen ``<eos>`` states, its
    penalty chosen by cross-validation within ``positions``."""
    states = engine.embed(sentences.subset(positions), pooling="eos")
    splits = inner_splits(targets[positions], n_classes is not None,
                          random_state, None if groups is None
                          else np.asarray(groups)[positions])
    fitted, _ = heads.fit_penalised(
        "regression" if n_classes is None else "classification", states,
        targets[positions], splits,
        None if class_weight == "none" or n_classes is None else "balanced",
        fit_intercept=False)
    weight = np.atleast_2d(fitted.coef_)
    if n_classes == 2:  # one logit difference -> two logits
        weight = np.vstack([-weight / 2, weight / 2])
    with torch.no_grad():
        network.score.weight.copy_(torch.as_tensor(weight))


def fine_tune(start, sentences, targets, settings, labels=None,
              class_weight="balanced", groups=None, probe_first=False):
    """Fine-tune ``start`` on ``sentences`` with aligned ``targets``
    (class indices into ``labels``, or standardised values when
    ``labels`` is None). With ``probe_first`` the head is first fitted on
    frozen states (LP-FT). Returns ``(network, record)``: the record holds
    the history, the training/validation positions and the head's origin.
    """
    n_classes = None if labels is None else len(labels)
    train_pos, val_pos = training.validation_split(
        len(targets), settings.validation_fraction, settings.random_state,
        strata=targets if n_classes else None, groups=groups)
    network, head_kept = sequence_network(start, labels,
                                          settings.random_state)
    if start.kind != "pretrained" and not head_kept:
        log.info("The starting model predicts something else (%s): its "
                 "head is re-initialised.", start.labels or start.kind)
    model = MGMModel(network, start.vocabulary, {"kind": "classifier"})
    engine = Engine(model, device=settings.device, threads=settings.threads)
    if probe_first:
        probe_head(network, engine, sentences, train_pos, targets,
                   n_classes, groups, class_weight, settings.random_state)
    if n_classes is None:
        loss = squared_error(targets)
    else:
        loss = cross_entropy(targets, class_weights(
            targets[train_pos], n_classes, class_weight))
    history = training.train(engine, sentences, train_pos, val_pos, loss,
                             settings)
    head = "probe" if probe_first else \
        "kept" if head_kept else "new"
    return network.cpu(), {"history": history, "train": train_pos,
                           "validation": val_pos, "head": head}
