"""A fitted predictor's own importance of each genus.

- A predictor that is only a random forest: the forest's impurity
  importance (mean decrease in impurity, summing to 1), as scikit-learn
  and q2-sample-classifier report it.
- A predictor with an MGM part (probe, blend, fine-tune, lp-ft, ensemble):
  permutation importance on its training samples, the increase in the
  whole predictor's loss (log loss of the class probabilities, or 1 - R²
  of the values) when one genus's relative abundances are shuffled among
  the samples and every changed sample is re-ranked into a sentence and
  predicted again (the mean over ``REPEATS`` shuffles). The blend's is
  that of its mixed prediction, so each part counts by its weight. To
  bound the cost, only the ``PERMUTED_GENERA`` genera present in the most
  training samples are shuffled (the others are not ranked), and only the
  samples whose value a shuffle changes are predicted again.
"""
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import log_loss

from . import fit, strategies
from .tokens import GenusTable, rank_sentences

# Each shuffle predicts again about every training sample that holds the
# genus: the cost is about PERMUTED_GENERA * REPEATS forward passes over
# the training samples.
PERMUTED_GENERA = 20
REPEATS = 1
COLUMN = "importance"   # q2-sample-classifier's column name


def measure(model):
    """The name of the importance ``predictor_importance`` gives."""
    if fit.parts(model) == ["forest"]:
        return "impurity importance of the random forest"
    return ("permutation importance on the training samples (increase in "
            + ("log loss" if model.kind == "classifier" else "1 - R²")
            + f"; the {PERMUTED_GENERA} most prevalent genera)")


def predictor_importance(model, engine, samples, targets, random_state=0):
    """Importance of each genus (``g__Name``, most important first) of a
    fitted predictor, measured as ``measure`` says; ``samples`` and
    ``targets`` are its training samples."""
    if fit.parts(model) == ["forest"]:
        values = pd.Series(fit.forest_importance(model.heads),
                           index=model.heads["forest.genera"].numpy())
    else:
        values = permutation_importance(model, engine, samples, targets,
                                        random_state)
    return named(values, model.vocabulary)


def named(values, vocabulary):
    """Importance by token id -> the one-column table, names as
    collapse-genera writes them, highest first."""
    out = pd.DataFrame({COLUMN: values.to_numpy(dtype=np.float64)},
                       index=pd.Index([vocabulary.tokens[t] for t in
                                       values.index], name="genus"))
    return out.sort_values(COLUMN, ascending=False, kind="stable")


def mean_importance(tables):
    """Mean over the folds' predictors of each genus's importance (a genus
    a fold's predictor did not rank counts as 0 there), highest first."""
    joined = pd.concat([t[COLUMN] for t in tables], axis=1).fillna(0.0)
    out = joined.mean(axis=1).rename(COLUMN).to_frame().rename_axis("genus")
    return out.sort_values(COLUMN, ascending=False, kind="stable")


def loss(model, targets, predicted):
    """Log loss of class probabilities, or 1 - R² of values."""
    if model.kind == "classifier":
        return float(log_loss(targets.astype(str).to_numpy(),
                              np.clip(predicted.to_numpy(), 1e-15, 1),
                              labels=list(model.labels)))
    truth = targets.to_numpy(dtype=np.float64)
    spread = ((truth - truth.mean()) ** 2).sum() or 1.0
    return float(((truth - predicted.to_numpy()) ** 2).sum() / spread)


def sentences_of(abundances, vocabulary, max_length):
    """Sentences of relative abundances (columns: genus token ids)."""
    positions = np.searchsorted(vocabulary.genus_ids,
                                abundances.columns.to_numpy())
    genera = GenusTable(abundances.index, positions,
                        sp.csr_matrix(abundances.to_numpy()),
                        abundances.sum(axis=1).to_numpy(),
                        pd.Series(dtype=np.float64))
    sentences, _ = rank_sentences(genera, vocabulary, max_length)
    return sentences


def permutation_importance(model, engine, samples, targets, random_state):
    """Increase in loss per shuffled genus (token id index)."""
    targets = targets.reindex(samples.sentences.sample_ids)
    base = strategies.predict(model, engine, samples)
    reference = loss(model, targets, base)
    abundances = samples.abundances
    prevalence = (abundances > 0).sum()
    chosen = prevalence[prevalence > 0].sort_values(
        ascending=False, kind="stable").index[:PERMUTED_GENERA]
    rng = np.random.default_rng(random_state)
    out = {}
    for genus in chosen:
        column = abundances[genus].to_numpy()
        rows, variants = [], []
        for _ in range(REPEATS):
            shuffled = rng.permutation(column)
            changed = np.flatnonzero(shuffled != column)
            permuted = abundances.iloc[changed].copy()
            permuted[genus] = shuffled[changed]
            # A sample left with no genus keeps its prediction.
            kept = permuted.to_numpy().sum(axis=1) > 0
            rows.append(changed[kept])
            variants.append(permuted[kept])
        # Every shuffle of a genus in one pass through the predictor.
        variants = pd.concat(variants)
        predicted = strategies.predict(model, engine, strategies.Samples(
            sentences_of(variants, model.vocabulary, model.max_length),
            variants)).to_numpy() if len(variants) else None
        increases, start = [], 0
        for changed in rows:
            shuffled = base.copy()
            shuffled.iloc[changed] = predicted[start:start + len(changed)]
            start += len(changed)
            increases.append(loss(model, targets, shuffled) - reference)
        out[genus] = float(np.mean(increases))
    return pd.Series(out, dtype=np.float64)
