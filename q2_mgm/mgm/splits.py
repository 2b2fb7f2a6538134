"""Sample splits that do not leak: train/test, cross-validation folds and
the inner folds that choose settings within a training set.

Splits are shuffled with ``random_state``, stratified by class for
classifiers, and keep every sample of one group (subject) on one side
when groups are given.
"""
import logging
import math

import numpy as np
import pandas as pd
from sklearn.model_selection import (GroupKFold, KFold, StratifiedGroupKFold,
                                     StratifiedKFold, train_test_split)

INNER_FOLDS = 5
log = logging.getLogger("q2_mgm")


def kfold(n, n_splits, random_state, strata=None, groups=None):
    """``(train, test)`` position pairs of a shuffled k-fold."""
    x = np.zeros(n)
    if groups is not None:
        # Random group names, so that GroupKFold's ties fall at random.
        _, codes = np.unique(np.asarray(groups), return_inverse=True)
        groups = np.random.default_rng(random_state).permutation(
            codes.max() + 1)[codes]
        if strata is None:
            return list(GroupKFold(n_splits).split(x, groups=groups))
        return list(StratifiedGroupKFold(
            n_splits, shuffle=True, random_state=random_state).split(
                x, np.asarray(strata), groups))
    if strata is None:
        return list(KFold(n_splits, shuffle=True,
                          random_state=random_state).split(x))
    return list(StratifiedKFold(n_splits, shuffle=True,
                                random_state=random_state).split(
                                    x, np.asarray(strata)))


def most_folds(targets, classes, groups=None):
    """The most folds possible: every class (or the data) needs a sample
    or a group in each."""
    units = pd.Series(np.arange(len(targets)) if groups is None
                      else np.asarray(groups))
    if classes:
        return int(units.groupby(np.asarray(targets)).nunique().min())
    return int(units.nunique())


def inner_splits(targets, classes, random_state, groups=None,
                 n_splits=INNER_FOLDS):
    """Folds within a training set to choose settings (penalties, blend
    weights): up to ``n_splits``, as many as the smallest class allows.
    Each training part holds every class; where subjects make that
    impossible, the folds are sample-wise (the choice of a setting may
    then see a subject on both sides; the outer evaluation never does)."""
    targets = np.asarray(targets)
    if groups is not None:
        found = (fitting_splits(targets, classes, random_state, groups,
                                n_splits)
                 if most_folds(targets, classes, groups) >= 2 else [])
        if len(found) >= 2:
            return found
        log.warning("Too few subjects per class to choose settings by "
                    "subject-wise cross-validation within the training "
                    "samples; choosing them with sample-wise folds.")
    if min(n_splits, most_folds(targets, classes)) < 2:
        raise ValueError(
            "Choosing settings by cross-validation within the training "
            "samples needs at least two samples of every class there. Add "
            "samples, merge rare classes, or use the 'fine-tune' strategy.")
    return fitting_splits(targets, classes, random_state, None, n_splits)


def fitting_splits(targets, classes, random_state, groups, n_splits):
    """The folds whose training part holds every class."""
    n_splits = min(n_splits, most_folds(targets, classes, groups))
    everything = set(targets) if classes else set()
    return [(train, test) for train, test in kfold(
        len(targets), n_splits, random_state,
        targets if classes else None, groups)
        if everything <= set(targets[train])]


def check_groups(targets, groups, folds, classes=True):
    """Group of each sample as an array; ``folds`` groups are needed per
    class (classifiers) or in all."""
    groups = groups.reindex(targets.index)
    if groups.isna().any():
        missing = groups.index[groups.isna()]
        raise ValueError(
            f"{len(missing)} sample(s) have no {groups.name!r} group: "
            f"{', '.join(map(str, missing[:10]))}. Fill in the group "
            "column for every sample used.")
    groups = groups.astype(str)
    if classes:
        per_class = groups.groupby(targets).nunique()
        small = per_class[per_class < folds]
        problem = "groups per class, but " + ", ".join(
            f"{k!r} ({v})" for k, v in small.items()) + " have fewer"
    else:
        small = [1] if groups.nunique() < folds else []
        problem = f"groups, but there are {groups.nunique()}"
    if len(small):
        raise ValueError(
            f"Splitting into {folds} parts with groups needs at least "
            f"{folds} {groups.name!r} {problem}. Lower the number of folds "
            "(cv) or raise test_size, or leave out the groups column.")
    return groups.to_numpy()


def cv_folds(targets, folds, random_state, groups=None, classes=True):
    """Fold (1..``folds``) of each sample; groups stay within one fold."""
    if groups is not None:
        groups = check_groups(targets, groups, folds, classes)
    fold = pd.Series(0, index=targets.index, name="fold")
    for k, (_, test) in enumerate(kfold(
            len(targets), folds, random_state,
            targets.to_numpy() if classes else None, groups), start=1):
        fold.iloc[test] = k
    return fold


def holdout_split(targets, test_size, random_state, groups=None,
                  classes=True):
    """(train IDs, test IDs): stratified for classes; with groups, about
    ``test_size`` of the groups are held out whole."""
    if groups is None:
        train, test = train_test_split(
            np.arange(len(targets)),
            test_size=math.ceil(test_size * len(targets)),
            stratify=targets.to_numpy() if classes else None,
            random_state=random_state)
    else:
        parts = max(2, round(1 / test_size))
        groups = check_groups(targets, groups, parts, classes)
        train, test = kfold(len(targets), parts, random_state,
                            targets.to_numpy() if classes else None,
                            groups)[0]
    index = targets.index
    return index[np.sort(train)], index[np.sort(test)]
