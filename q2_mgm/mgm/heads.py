"""Estimators on frozen features, stored as plain arrays (no pickle).

Two kinds: a random forest on genus relative abundances (scikit-learn's
``RandomForestClassifier`` / ``RandomForestRegressor``) and a linear model
on MGM embeddings (a standardisation followed by scikit-learn's logistic or
ridge regression). Each is fitted with scikit-learn, then exported to a
dict of named tensors that ``safetensors`` writes, and predicted from those
arrays alone; the predictions equal scikit-learn's.
"""
import warnings

import numpy as np
import torch
from scipy.special import expit, softmax
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.preprocessing import StandardScaler

from .engine import available_cores

FOREST_TREES = 500
# Inverse penalty C of logistic regression, penalty alpha of ridge.
PENALTIES = {"classification": tuple(np.logspace(-4, 2, 7)),
             "regression": tuple(np.logspace(-2, 5, 8))}
# Solvers that reach the optimum whatever the scikit-learn version: Newton
# steps to a gradient below 1e-8 (logistic; lbfgs's default stopping point
# moved between versions, by up to 0.02 in probability), and the exact
# Cholesky solution (ridge). Both in float64.
LOGISTIC_SOLVER = {"solver": "newton-cg", "tol": 1e-8, "max_iter": 100}
# scikit-learn < 1.4 may stop newton-cg at float64 precision just short of
# the tolerance and warn, although its answer agrees with later versions'
# to 1e-6 (.ci/test_platforms.py compares two platforms' answers).
SOLVER_WARNINGS = (r"The line search algorithm did not converge|"
                   r"Line Search failed|Rounding errors prevent the line "
                   r"search|newton-cg failed to converge")


# Random forest --------------------------------------------------------------

def fit_forest(features, targets, task, random_state, threads=1):
    """A random forest of ``FOREST_TREES`` trees, otherwise scikit-learn's
    defaults (q2-sample-classifier's estimator), with its out-of-bag
    score (accuracy, or R²), which leaves the trees as they are."""
    cls = RandomForestClassifier if task == "classification" \
        else RandomForestRegressor
    # The number of jobs does not change the trees (their seeds are drawn
    # first), only the time.
    forest = cls(n_estimators=FOREST_TREES, random_state=random_state,
                 n_jobs=threads or available_cores(), oob_score=True)
    with warnings.catch_warnings():
        # Few samples: some may be in every tree's bootstrap sample.
        warnings.filterwarnings("ignore", message="Some inputs do not have "
                                "OOB scores")
        warnings.filterwarnings("ignore", message="invalid value",
                                category=RuntimeWarning)
        return forest.fit(features, targets)


def forest_arrays(forest):
    """The trees of a fitted forest, concatenated into flat arrays, and
    its importance of each feature (mean decrease in impurity)."""
    trees = [estimator.tree_ for estimator in forest.estimators_]
    sizes = np.array([tree.node_count for tree in trees])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def children(side):
        return np.concatenate([
            np.where(getattr(t, side) < 0, -1, getattr(t, side) + start)
            for t, start in zip(trees, starts)])
    values = np.concatenate([t.value[:, 0, :] for t in trees])
    if isinstance(forest, RandomForestClassifier):
        values = values / values.sum(1, keepdims=True)
    oob = getattr(forest, "oob_score_", np.nan)
    scored = {"forest.oob_score": torch.tensor([float(oob)],
                                               dtype=torch.float64)} \
        if np.isfinite(oob) else {}
    return {**scored,
            "forest.roots": torch.as_tensor(starts, dtype=torch.int64),
            "forest.left": torch.as_tensor(children("children_left")),
            "forest.right": torch.as_tensor(children("children_right")),
            "forest.feature": torch.as_tensor(np.concatenate(
                [t.feature for t in trees]).astype(np.int64)),
            "forest.threshold": torch.as_tensor(np.concatenate(
                [t.threshold for t in trees])),
            "forest.value": torch.as_tensor(values),
            "forest.importance": torch.as_tensor(
                forest.feature_importances_)}


def forest_predict(arrays, features):
    """Mean over trees of each sample's leaf value (class probabilities,
    or the predicted value of a regression forest)."""
    left = arrays["forest.left"].numpy()
    right = arrays["forest.right"].numpy()
    feature = arrays["forest.feature"].numpy()
    threshold = arrays["forest.threshold"].numpy()
    # scikit-learn compares float32 features with float64 thresholds.
    features = np.asarray(features, dtype=np.float32)
    node = np.tile(arrays["forest.roots"].numpy(), (len(features), 1))
    rows = np.arange(len(features))[:, None]
    inner = left[node] >= 0
    while inner.any():
        column = np.where(inner, feature[node], 0)
        goes_left = features[rows, column] <= threshold[node]
        node = np.where(inner, np.where(goes_left, left[node], right[node]),
                        node)
        inner = left[node] >= 0
    return arrays["forest.value"].numpy()[node].mean(1)


# Linear model on embeddings -------------------------------------------------

def penalised(task, penalty, class_weight=None, fit_intercept=True):
    """An unfitted logistic (classes) or ridge (values) regression."""
    if task == "classification":
        return LogisticRegression(C=penalty, class_weight=class_weight,
                                  fit_intercept=fit_intercept,
                                  **LOGISTIC_SOLVER)
    return Ridge(alpha=penalty, fit_intercept=fit_intercept,
                 solver="cholesky")


def fitted(model, features, targets):
    """``model`` fitted in float64."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SOLVER_WARNINGS)
        return model.fit(np.asarray(features, dtype=np.float64), targets)


def fit_penalised(task, features, targets, splits, class_weight=None,
                  fit_intercept=True):
    """The linear model whose penalty gives the lowest out-of-fold loss
    over ``splits`` (log loss, or squared error, of all held-out samples
    pooled), refitted on every sample, and the loss of each penalty."""
    targets = np.asarray(targets)
    features = np.asarray(features, dtype=np.float64)
    classes = np.unique(targets) if task == "classification" else None
    losses = {}
    for penalty in PENALTIES[task]:
        held_out = np.zeros((len(targets), 1 if classes is None
                             else len(classes)))
        for train, test in splits:
            model = fitted(penalised(task, penalty, class_weight,
                                     fit_intercept),
                           features[train], targets[train])
            if classes is None:
                held_out[test, 0] = model.predict(features[test])
            else:
                columns = np.searchsorted(classes, model.classes_)
                held_out[np.ix_(test, columns)] = model.predict_proba(
                    features[test])
        scored = np.zeros(len(targets), dtype=bool)
        for _, test in splits:
            scored[test] = True
        losses[penalty] = (
            mean_squared_error(targets[scored], held_out[scored, 0])
            if classes is None
            else log_loss(targets[scored],
                          np.clip(held_out[scored], 1e-15, 1),
                          labels=classes))
    best = min(PENALTIES[task], key=losses.get)
    return fitted(penalised(task, best, class_weight, fit_intercept),
                  features, targets), losses


def fit_linear(features, targets, task, splits, class_weight=None):
    """Standardise, then logistic (classification) or ridge (regression)
    regression, its penalty chosen by cross-validation over ``splits``
    (stored: the chosen penalty, the out-of-fold loss of each penalty and
    the number of folds)."""
    features = np.asarray(features, dtype=np.float64)
    scaler = StandardScaler().fit(features)
    model, losses = fit_penalised(task, scaler.transform(features), targets,
                                  splits, class_weight)
    return {"linear.penalty": torch.tensor(
                [model.C if task == "classification" else model.alpha],
                dtype=torch.float64),
            "linear.losses": torch.tensor(
                [losses[p] for p in PENALTIES[task]], dtype=torch.float64),
            "linear.folds": torch.tensor([len(splits)]),
            "linear.mean": torch.as_tensor(scaler.mean_),
            "linear.scale": torch.as_tensor(scaler.scale_),
            "linear.coef": torch.as_tensor(np.atleast_2d(model.coef_)),
            "linear.intercept": torch.as_tensor(
                np.atleast_1d(model.intercept_).astype(np.float64))}


def linear_predict(arrays, features, task):
    """Class probabilities (logistic) or predicted values (ridge)."""
    scaled = (np.asarray(features, dtype=np.float64)
              - arrays["linear.mean"].numpy()) / arrays["linear.scale"].numpy()
    scores = scaled @ arrays["linear.coef"].numpy().T \
        + arrays["linear.intercept"].numpy()
    if task == "regression":
        return scores[:, 0]
    if scores.shape[1] == 1:
        positive = expit(scores[:, 0])
        return np.column_stack([1 - positive, positive])
    return softmax(scores, axis=1)
