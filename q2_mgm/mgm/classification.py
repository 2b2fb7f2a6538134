"""What sample classification asks of its labels, splits and models."""
import math

from . import splits


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


def require_predictor(model, kind):
    """``model`` must be a fitted ``kind`` (classifier or regressor)."""
    if model.kind != kind:
        action = "fit-classifier" if kind == "classifier" else \
            "fit-regressor"
        raise ValueError(
            f"This MGM model is a {model.kind} model, not a {kind}. Train "
            f"one with `qiime mgm {action}` and predict with it.")


def holdout_split(labels, test_size, random_state, groups=None):
    """Stratified (train IDs, test IDs) of ``labels``."""
    n_test = math.ceil(test_size * len(labels))
    n_classes = labels.nunique()
    check_class_sizes(labels, 3, "A train/test split")
    if groups is None and (n_test < n_classes
                           or len(labels) - n_test < n_classes * 2):
        raise ValueError(
            f"test_size={test_size} puts {n_test} of {len(labels)} samples "
            f"in the test set; a stratified split of {n_classes} classes "
            "needs at least one test sample per class and two training "
            "samples per class. Change test_size.")
    return splits.holdout_split(labels, test_size, random_state, groups)


def check_training_sets(labels, test_part):
    """Before any training: every training set has two samples of every
    class. ``test_part`` names each sample's fold (or train/test)."""
    for k in sorted(test_part.unique()):
        training = labels[test_part != k]
        missing = sorted(set(labels) - set(training))
        if missing:
            raise ValueError(
                f"Fold {k} would train without class(es) {missing}: its "
                "other folds hold none of their samples. Use fewer folds or "
                "remove the rare classes.")
        check_class_sizes(training, 2, f"Training on the rest of fold {k}")


def cv_folds(labels, folds, random_state, groups=None):
    """Stratified folds (1..``folds``); groups stay within one fold."""
    check_class_sizes(labels, folds, f"{folds}-fold cross-validation")
    return splits.cv_folds(labels, folds, random_state, groups)
