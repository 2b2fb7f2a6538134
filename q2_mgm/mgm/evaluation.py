"""Scores of predictions, per fold and pooled, and paired comparisons of
methods evaluated on the same samples.

Classification: accuracy, macro F1, ROC-AUC (one class against the rest,
averaged over classes), PR-AUC (average precision), sensitivity and
specificity (two classes: the first class in sorted order is positive).
Regression: R², mean absolute error and Spearman's rank correlation.
"""
import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import (average_precision_score, f1_score,
                             mean_absolute_error, r2_score, roc_auc_score)

BOOTSTRAP = 1000
PRIMARY = {"classification": "ROC-AUC", "regression": "R²"}
SECONDARY = {"classification": "accuracy", "regression": "MAE"}


def roc_auc(truth, probabilities):
    """Macro one-vs-rest ROC-AUC over classes with both outcomes (NaN: none).

    For two classes this is the ordinary ROC-AUC.
    """
    return _one_vs_rest(roc_auc_score, truth, probabilities)


def pr_auc(truth, probabilities):
    """Average precision; for two classes, of the first (positive) class."""
    if probabilities.shape[1] == 2:
        probabilities = probabilities.iloc[:, :1]
    return _one_vs_rest(average_precision_score, truth, probabilities)


def _one_vs_rest(metric, truth, probabilities):
    truth = np.asarray(truth)
    scores = [metric(truth == label, probabilities[label])
              for label in probabilities.columns
              if 0 < (truth == label).sum() < len(truth)]
    return float(np.mean(scores)) if scores else float("nan")


def predicted_classes(probabilities):
    """The most probable class of each sample."""
    columns = np.asarray(probabilities.columns, dtype=object)
    return pd.Series(columns[probabilities.to_numpy().argmax(1)],
                     index=probabilities.index, name="prediction")


def classification_scores(truth, probabilities):
    """Scores of class probabilities against the true classes."""
    truth = truth.reindex(probabilities.index).astype(str).to_numpy()
    predicted = predicted_classes(probabilities).astype(str).to_numpy()
    scores = {"samples": len(truth),
              "accuracy": float((truth == predicted).mean()),
              "F1 (macro)": float(f1_score(truth, predicted,
                                           average="macro",
                                           zero_division=0)),
              "ROC-AUC": roc_auc(truth, probabilities),
              "PR-AUC": pr_auc(truth, probabilities)}
    classes = list(probabilities.columns)
    if len(classes) == 2:
        positive = truth == classes[0]
        hit = predicted == truth
        scores["sensitivity"] = _mean(hit[positive])
        scores["specificity"] = _mean(hit[~positive])
    return scores


def _mean(values):
    return float(np.mean(values)) if len(values) else float("nan")


def regression_scores(truth, predictions):
    """Scores of predicted values against the true values."""
    truth = truth.reindex(predictions.index).astype(float).to_numpy()
    predicted = predictions.to_numpy(dtype=float)
    few = len(truth) < 2 or np.ptp(truth) == 0
    return {"samples": len(truth),
            "R²": float("nan") if few else float(r2_score(truth, predicted)),
            "MAE": float(mean_absolute_error(truth, predicted)),
            "Spearman": float("nan") if few or np.ptp(predicted) == 0
            else float(spearmanr(truth, predicted)[0])}


def score(task, truth, predictions):
    return (classification_scores if task == "classification"
            else regression_scores)(truth, predictions)


def fold_scores(task, truth, predictions, folds):
    """One row per fold, their mean and standard deviation, and the scores
    of all samples pooled; ``samples`` counts (none on the mean and sd
    rows)."""
    rows = {f"fold {k}": score(task, truth, predictions.loc[ids])
            for k, ids in by_fold(folds)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if len(table) > 1:
        summary = table.drop(columns="samples").agg(["mean", "std"])
        summary.index = ["mean of folds", "sd of folds"]
        pooled = pd.DataFrame.from_dict(
            {"all samples": score(task, truth, predictions)}, orient="index")
        table = pd.concat([table, summary, pooled])
    return table.astype({"samples": "Int64"})


def by_fold(folds):
    """(fold, sample IDs) pairs, folds in natural order (2 before 10)."""
    groups = folds.groupby(folds).groups
    return [(k, groups[k]) for k in sorted(
        groups, key=lambda k: (len(str(k)), str(k)))]


def primary_score(task, truth, values, labels=None):
    """The primary score of ``score`` from aligned arrays (``values``:
    samples x ``labels`` probabilities, or predicted values), computed
    directly: ROC-AUC from ranks (ties count one half), R² from sums of
    squares."""
    if task == "regression":
        spread = ((truth - truth.mean()) ** 2).sum()
        if len(truth) < 2 or spread == 0:
            return float("nan")
        return float(1 - ((truth - values) ** 2).sum() / spread)
    aucs = []
    for column, label in enumerate(labels):
        positive = truth == label
        hits = int(positive.sum())
        if 0 < hits < len(truth):
            ranks = rankdata(values[:, column])
            aucs.append((ranks[positive].sum() - hits * (hits + 1) / 2)
                        / (hits * (len(truth) - hits)))
    return float(np.mean(aucs)) if aucs else float("nan")


def bootstrap_difference(task, truth, first, second, random_state=0):
    """95% interval of ``primary(first) - primary(second)`` over samples
    drawn with replacement (the same draws for both)."""
    rng = np.random.default_rng(random_state)
    ids = first.index
    labels = None
    if task == "classification":
        labels = np.asarray(first.columns).astype(str)
        truth = truth.reindex(ids).astype(str).to_numpy()
    else:
        truth = truth.reindex(ids).astype(float).to_numpy()
    a = first.to_numpy(dtype=float)
    b = second.reindex(ids).to_numpy(dtype=float)
    differences = []
    for _ in range(BOOTSTRAP):
        draw = rng.integers(0, len(ids), len(ids))
        differences.append(
            primary_score(task, truth[draw], a[draw], labels)
            - primary_score(task, truth[draw], b[draw], labels))
    differences = np.array(differences)
    differences = differences[np.isfinite(differences)]
    if not len(differences):
        return float("nan"), float("nan")
    return tuple(float(q) for q in np.quantile(differences, [0.025, 0.975]))


def compare(task, truth, methods, folds, random_state=0):
    """Paired comparison of the first method with each other one on the
    primary score: the difference (mean over folds), and over several
    folds the folds won and a sign-flip permutation p over folds, and a
    bootstrap interval over samples."""
    metric = PRIMARY[task]
    names = list(methods)
    several = folds.nunique() > 1
    per_fold = {name: np.array([score(task, truth, methods[name].loc[ids]
                                      )[metric]
                                for _, ids in by_fold(folds)])
                for name in names}
    rows = []
    for other in names[1:]:
        difference = per_fold[names[0]] - per_fold[other]
        finite = difference[np.isfinite(difference)]
        low, high = bootstrap_difference(task, truth, methods[names[0]],
                                         methods[other], random_state)
        row = {"compared with": other}
        if several:
            row.update({
                f"{metric} difference (mean of folds)": _mean(finite),
                "folds better": f"{int((finite > 0).sum())} of "
                                f"{len(finite)}",
                "sign-flip p (folds)": sign_flip_p(finite)})
        else:
            row[f"{metric} difference"] = _mean(finite)
        row[INTERVAL] = interval_text(low, high)
        rows.append(row)
    return pd.DataFrame(rows).set_index("compared with")


INTERVAL = "95% interval (bootstrap of samples)"


def interval_text(low, high):
    return f"{low:+.3f} to {high:+.3f}"


def sign_flip_p(differences):
    """Two-sided exact p of a paired permutation test: how often flipping
    the signs of the per-fold differences gives a mean at least as far
    from 0 (NaN with fewer than two folds)."""
    differences = np.asarray(differences, dtype=float)
    n = len(differences)
    if n < 2 or n > 20:
        return float("nan")
    signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    flipped = np.abs(signs @ differences)
    return float(np.mean(flipped >= abs(differences.sum()) - 1e-12))


def difference_interval(task, truth, methods, first, second):
    """Bootstrap interval of ``first`` minus ``second``, drawn as
    ``compare`` draws it (against the first method, negated when that
    one is ``second``)."""
    lead = next(iter(methods))
    if second == lead:
        low, high = bootstrap_difference(task, truth, methods[lead],
                                         methods[first])
        return -high, -low
    return bootstrap_difference(task, truth, methods[first],
                                methods[second])


def verdict(task, truth, methods, folds):
    """In words: which method scored best on the primary score and by how
    much, a winner named only where the bootstrap interval of its
    difference excludes 0; returns the text and each method's score (mean
    over folds, or on the single test set)."""
    metric = PRIMARY[task]
    means = {name: _mean([score(task, truth, p.loc[ids])[metric]
                          for _, ids in by_fold(folds)])
             for name, p in methods.items()}
    ranked = sorted(means, key=lambda n: -np.nan_to_num(means[n],
                                                        nan=-np.inf))
    best, runner = ranked[0], ranked[1]
    first = next(iter(methods))
    where = (f"mean of {folds.nunique()} folds" if folds.nunique() > 1
             else f"on the {len(folds)} held-out test samples")
    low, high = difference_interval(task, truth, methods, best, runner)
    if low > 0:
        text = (f"{best} scored the highest {metric} ({means[best]:.3f}, "
                f"{where}), {means[best] - means[runner]:.3f} above "
                f"{runner} ({means[runner]:.3f}); the 95% interval of the "
                f"difference, {interval_text(low, high)}, excludes 0.")
    else:
        text = (f"The data cannot tell {best} and {runner} apart on "
                f"{metric}: {best} {means[best]:.3f}, {runner} "
                f"{means[runner]:.3f} ({where}), and the 95% interval of "
                f"the difference, {interval_text(low, high)}, includes 0.")
    if first not in (best, runner):
        low, high = difference_interval(task, truth, methods, best, first)
        text += (f" {first}, the method chosen for this run, scored "
                 f"{means[first]:.3f}; the interval of {best}'s difference "
                 f"from it, {interval_text(low, high)}, "
                 + ("excludes 0: it is worse." if low > 0
                    else "includes 0."))
    return text, means
