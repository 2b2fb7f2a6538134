"""How well a table fits a predictor: how much of each sample the
predictor can see.

A predictor knows the genera it was trained on: its random forest and its
linear model on embeddings those present in their training samples, a
fine-tuned network the whole MGM vocabulary. Per sample, the fit is the
share of all its reads (unmapped and unassigned ones included: MGM and
its predictors cannot see them) in the genera every part of the predictor
knows and,
with a forest, the share of the forest's importance (mean decrease in
impurity) in genera the sample holds. A sample with none of those genera
gets the same prediction whatever it holds: that is an error (or the
sample is dropped). A table whose median sample falls below ``THRESHOLDS``
is one the predictor barely sees: a warning, and ``VERDICT`` says "poor"
for each sample below them.
"""
import logging

import numpy as np
import pandas as pd

READS = "reads in predictor genera"
IMPORTANCE = "forest importance present"
GENERA = "predictor genera present"
VERDICT = "fit"
# Measured on mapped reads only: within each of six disease cohorts (16S
# and shotgun) the median held-out sample has all its mapped reads in the
# genera of a forest trained on the
# other samples, and 47-83% of its importance; applied to another of the
# cohorts a forest kept 72-100% of the mapped reads and 22-86% of the
# importance, and the mouse diet forest applied to GlobalPatterns (soil,
# water, skin, gut) 19% of the mapped reads.
# Counting every read: the mouse example's median sample has 49% of all
# its reads in vocabulary genera (half its reads name no genus), all of
# them in the genera of a forest trained on it.
THRESHOLDS = {READS: 0.25, IMPORTANCE: 0.25}
log = logging.getLogger("q2_mgm")


def parts(model):
    """The parts of a predictor's mixture that count (weight above 0)."""
    weights = model.manifest.get("weights", {"network": 1.0})
    return [part for part, weight in weights.items() if weight > 0]


def known_genera(model):
    """Token ids of the genera every part of the predictor knows."""
    known = np.asarray(model.vocabulary.genus_ids)
    for part in parts(model):
        stored = model.heads.get(f"{part}.genera")
        if stored is not None:
            known = np.intersect1d(known, stored.numpy())
    return known


def forest_importance(heads):
    """Importance of each genus of ``forest.genera``, summing to 1: the
    stored mean decrease in impurity or, for forests saved without it, the
    share of the forest's splits on each genus."""
    if "forest.importance" in heads:
        importance = heads["forest.importance"].numpy().astype(np.float64)
    else:
        feature = heads["forest.feature"].numpy()
        importance = np.bincount(feature[feature >= 0],
                                 minlength=len(heads["forest.genera"]))
    total = importance.sum()
    return importance / total if total > 0 else importance


def table_fit(genera, model):
    """Per sample of a ``GenusTable``: the share of all its reads (mapped
    or not) in the predictor's genera, how many of them it holds, with a
    forest the share of the forest's importance it holds, and the
    verdict."""
    tokens = np.asarray(model.vocabulary.genus_ids)[genera.genus_positions]
    counts = genera.counts.tocsc()
    known = np.isin(tokens, known_genera(model))
    reads = np.asarray(counts[:, known].sum(axis=1)).ravel()
    present = (counts > 0).astype(np.float64)
    total = np.asarray(genera.total_counts, dtype=np.float64)
    frame = pd.DataFrame({
        READS: np.divide(reads, total, out=np.zeros_like(reads),
                         where=total > 0),
        GENERA: np.asarray(present[:, known].sum(axis=1)).ravel().astype(
            int)}, index=genera.sample_ids)
    if "forest" in parts(model):
        importance = pd.Series(forest_importance(model.heads),
                               index=model.heads["forest.genera"].numpy())
        frame[IMPORTANCE] = present @ importance.reindex(
            tokens, fill_value=0.0).to_numpy()
    low = np.zeros(len(frame), dtype=bool)
    for column, threshold in THRESHOLDS.items():
        if column in frame:
            low |= frame[column].to_numpy() < threshold
    frame[VERDICT] = np.where(low, "poor", "good")
    return frame.rename_axis("sample-id")


def worst_first(frame):
    """``table_fit`` rows, the worst fit first: by the smallest ratio of
    a measure to its threshold."""
    ratio = pd.concat([frame[c] / t for c, t in THRESHOLDS.items()
                       if c in frame], axis=1).min(axis=1)
    return frame.iloc[np.argsort(ratio.to_numpy(), kind="stable")]


def described(model):
    """The genera a predictor knows, in words."""
    n = len(known_genera(model))
    if n == len(model.vocabulary.genus_ids):
        return f"the {n:,} genera of the MGM vocabulary"
    return f"the {n:,} genera this predictor was trained on"


def unseen(sample_ids, known, drop):
    """Stop on samples with none of the predictor's genera (``known``, in
    words), or, with ``drop``, log that they are left out."""
    if not len(sample_ids):
        return
    shown = ", ".join(map(str, list(sample_ids)[:10]))
    if drop:
        log.warning("Dropped %d sample(s) with none of %s: %s",
                    len(sample_ids), known, shown)
        return
    raise ValueError(
        f"{len(sample_ids)} sample(s) have none of {known}: {shown}. A "
        "prediction for them would not depend on what they hold (every "
        "such sample gets the same guess). Check that the table was "
        "classified against the same reference database as the training "
        "table (`qiime mgm summarize-coverage` with this predictor as its "
        "model shows the fit of each sample), remove those samples, or set "
        "drop_unmapped to skip them.")


def warning(fit, genera, model):
    """Why a table (``fit`` of the samples of a ``GenusTable``) whose median
    sample falls below a threshold fits the predictor poorly, or None."""
    medians = fit[[c for c in THRESHOLDS if c in fit]].median()
    low = [c for c in medians.index if medians[c] < THRESHOLDS[c]]
    if not low:
        return None
    known = known_genera(model)
    rows = genera.sample_ids.get_indexer(fit.index)
    found = genera.genus_positions[np.unique(genera.counts[rows].indices)]
    held = np.isin(known, np.asarray(model.vocabulary.genus_ids)[found])
    text = {READS: "{:.0%} of its reads (unmapped and unassigned ones "
                   "included) in {}".format(medians[READS], described(model)),
            IMPORTANCE: "{:.0%} of the random forest's importance".format(
                medians.get(IMPORTANCE, np.nan))}
    measured = " and ".join(text[c] for c in THRESHOLDS if c in medians)
    limits = " or ".join("{:.0%} of the {}".format(
        THRESHOLDS[c], "reads" if c == READS else "importance")
        for c in low)
    return (f"The table fits this predictor poorly: the median sample has "
            f"{measured} (below {limits}); the table holds {held.sum():,} of "
            f"those {len(known):,} genera. "
            "Predictions for such samples lean toward the training samples' "
            "most common outcome. Check that the table was classified "
            "against the same reference database as the training table, "
            "or fit a predictor on samples like these; the 'fit' column "
            "marks the samples below the thresholds.")
