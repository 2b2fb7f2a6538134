"""Visualizers: the chosen strategy beside the baselines, on the same
samples and folds (classification and regression)."""
import matplotlib.pyplot as plt
import pandas as pd
import qiime2
from sklearn.metrics import roc_auc_score, roc_curve

from ..actions.prediction import FOLD_COLUMN, WEIGHT_COLUMN
from ..mgm import evaluation
from ..mgm.strategies import DEFAULT_STRATEGY, method_name
from .report import Section, render

INTRO = {
    "classification": (
        "Each sample was predicted by models that never saw it: the "
        "strategy and the two baselines were fitted on the same training "
        "samples and tested on the same held-out samples. ROC-AUC is 0.5 "
        "for guessing and 1 for a perfect classifier."),
    "regression": (
        "Each sample was predicted by models that never saw it: the "
        "strategy and the two baselines were fitted on the same training "
        "samples and tested on the same held-out samples. R² is 0 for "
        "predicting the mean and 1 for perfect predictions.")}
SCORES_TEXT = {
    "classification": (
        "F1 is the macro average over classes; ROC-AUC and PR-AUC take "
        "each class against the rest, averaged over classes (for two "
        "classes: the ordinary ROC-AUC, and the PR-AUC, sensitivity and "
        "specificity of the first class, {positive}, as positive)."),
    "regression": (
        "R² (1 minus the squared error over the variance), mean absolute "
        "error (MAE, in the units of the column) and Spearman's rank "
        "correlation of predicted with true values.")}
POOLED_TEXT = " 'all samples' pools the predictions of every fold."


def method_predictions(task, strategy, chosen, forest, probe):
    """Display name -> predictions, the chosen strategy first."""
    methods = {method_name(strategy, task): chosen}
    for name, predictions in (("forest", forest), ("probe", probe)):
        if predictions is not None and name != strategy:
            methods[method_name(name, task)] = predictions
    return methods


def common_samples(methods, truth):
    """Samples that every method predicted and that have a true value."""
    ids = truth.dropna().index
    for predictions in methods.values():
        ids = ids.intersection(predictions.index, sort=False)
    if len(ids) == 0:
        raise ValueError("No predicted sample has a true value in the "
                         "metadata column; check that they belong together.")
    return ids


def scores_section(task, truth, methods, folds, output_dir):
    several = folds.nunique() > 1
    section = Section(
        "Scores per fold" if several else "Scores on the test samples",
        SCORES_TEXT[task].format(
            positive=next(iter(methods.values())).columns[0]
            if task == "classification" else "")
        + (POOLED_TEXT if several else ""))
    for i, (name, predictions) in enumerate(methods.items()):
        table = evaluation.fold_scores(task, truth, predictions, folds)
        if not several:
            table.index = ["test samples"]
        section.table(table.rename_axis(name), output_dir, f"scores-{i}",
                      label=f"Download the scores of {name} (TSV)")
    return section


def summary_table(task, truth, methods, folds):
    """Mean of folds of every score, one row per method."""
    rows = {}
    for name, predictions in methods.items():
        table = evaluation.fold_scores(task, truth, predictions, folds)
        row = "mean of folds" if "mean of folds" in table.index \
            else table.index[0]
        rows[name] = table.loc[row].drop("samples").astype(float)
    return pd.DataFrame(rows).T.rename_axis("method")


def comparison_text(metric, folds):
    """What the comparison table holds, for several folds or one split."""
    n = folds.nunique()
    if n == 1:
        return (f"The first method against each other one, on {metric} of "
                "the held-out test samples: the difference (positive: the "
                "first method is better) and a 95% interval of it from "
                f"{evaluation.BOOTSTRAP} bootstrap resamples of the test "
                "samples. An interval that contains 0 means the data "
                "cannot tell the two apart.")
    floor = 2 / 2 ** n
    return (f"The first method against each other one, on {metric}: the "
            "mean over folds of the per-fold difference (positive: the "
            "first method is better), in how many folds it was better, an "
            "exact paired permutation test over folds (flipping the sign "
            f"of each fold's difference; with {n} folds no p can fall "
            f"below {floor:.2g}) and a 95% interval of the pooled "
            f"difference from {evaluation.BOOTSTRAP} bootstrap resamples of "
            "the samples. An interval that contains 0 means the data "
            "cannot tell the two apart.")


def comparison_section(task, truth, methods, folds, weights, output_dir):
    metric = evaluation.PRIMARY[task]
    several = folds.nunique() > 1
    section = Section("Paired comparison", comparison_text(metric, folds))
    section.table(summary_table(task, truth, methods, folds), output_dir,
                  "summary", label="Download the "
                  + ("mean scores" if several else "scores") + " (TSV)")
    if len(methods) > 1:
        section.table(evaluation.compare(task, truth, methods, folds),
                      output_dir, "comparison",
                      label="Download the comparison (TSV)")
        if several:
            section.figure(per_fold_figure(task, truth, methods, folds),
                           output_dir, "per-fold",
                           f"{metric} of each method in each fold (one grey "
                           "line per fold)")
    if weights is not None and several:
        section.text += (
            " The blend's forest weight (the share of the random forest; "
            "the rest is the probe) was chosen in each fold by "
            "cross-validation within its training samples:")
        section.table(weights.rename_axis("fold").to_frame(WEIGHT_COLUMN))
    elif weights is not None:
        section.text += (
            f" The blend's forest weight (the share of the random forest; "
            f"the rest is the probe), {weights.iloc[0]:g}, was chosen by "
            "cross-validation within the training samples.")
    return section


def per_fold_figure(task, truth, methods, folds):
    metric = evaluation.PRIMARY[task]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    names = list(methods)
    for k, ids in evaluation.by_fold(folds):
        values = [evaluation.score(task, truth, methods[n].loc[ids])[metric]
                  for n in names]
        ax.plot(range(len(names)), values, "o-", color="grey", alpha=0.6)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize="small")
    ax.set_ylabel(f"{metric} (one line per fold)")
    return fig


def roc_figure(truth, methods):
    """One ROC curve per method (two classes), or per method and class."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, probabilities in methods.items():
        classes = list(probabilities.columns)
        shown = classes[:1] if len(classes) == 2 else classes
        for label in shown:
            positive = (truth.reindex(probabilities.index) == label)
            if 0 < positive.sum() < len(positive):
                fpr, tpr, _ = roc_curve(positive, probabilities[label])
                auc = roc_auc_score(positive, probabilities[label])
                suffix = "" if len(classes) == 2 else f", {label}"
                ax.plot(fpr, tpr, label=f"{name}{suffix} ({auc:.2f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize="small")
    return fig


def scatter_figure(truth, methods):
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, predictions in methods.items():
        ax.scatter(truth.reindex(predictions.index), predictions, s=12,
                   alpha=0.6, label=name)
    low, high = float(truth.min()), float(truth.max())
    ax.plot([low, high], [low, high], color="grey", linestyle=":")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.legend(fontsize="small")
    return fig


def plots_section(task, truth, methods, output_dir):
    if task == "regression":
        section = Section("Predicted against true values",
                          "Each point is a held-out sample; the dotted line "
                          "marks perfect predictions.")
        section.figure(scatter_figure(truth, methods), output_dir,
                       "scatter", "Predicted against true values")
        return [section]
    section = Section(
        "ROC curves",
        "True against false positive rate of the pooled held-out "
        "predictions as the probability threshold varies (for two "
        "classes, the first class as positive; otherwise each class "
        "against the rest). The area under each curve is in brackets.")
    section.figure(roc_figure(truth, methods), output_dir, "roc",
                   "ROC curves of every method")
    confusion = Section("Confusion matrices",
                        "Rows: true class; columns: predicted class.")
    for name, probabilities in methods.items():
        predicted = evaluation.predicted_classes(probabilities)
        confusion.table(pd.crosstab(
            truth.reindex(predicted.index).rename("true"),
            predicted.rename("predicted")).rename_axis(
                index=f"{name}: true", columns="predicted"))
    return [section, confusion]


def report(output_dir, task, truth, methods, folds):
    """The comparison report of ``methods`` (display name -> predictions)
    on the samples of the ``folds`` metadata."""
    frame = folds.to_dataframe()
    ids = common_samples(methods, truth.reindex(frame.index))
    methods = {name: p.loc[ids] for name, p in methods.items()}
    truth = truth.reindex(ids)
    fold = frame.loc[ids, FOLD_COLUMN].astype(str)
    weights = (frame.loc[ids].groupby(FOLD_COLUMN)[WEIGHT_COLUMN].first()
               if WEIGHT_COLUMN in frame else None)
    text, _ = evaluation.verdict(task, truth, methods, fold)
    title = "MGM " + ("classification" if task == "classification"
                      else "regression") + " against baselines"
    size = (f"{len(ids)} samples, {fold.nunique()} folds."
            if fold.nunique() > 1 else
            f"{len(ids)} held-out test samples (one train/test split).")
    render(output_dir, title,
           [comparison_section(task, truth, methods, fold, weights,
                               output_dir),
            *plots_section(task, truth, methods, output_dir),
            scores_section(task, truth, methods, fold, output_dir)],
           intro=f"{text} {size} " + INTRO[task])


def summarize_cross_validation(
        output_dir: str, probabilities: pd.DataFrame,
        truth: qiime2.CategoricalMetadataColumn, folds: qiime2.Metadata,
        forest_probabilities: pd.DataFrame = None,
        probe_probabilities: pd.DataFrame = None,
        strategy: str = DEFAULT_STRATEGY) -> None:
    methods = method_predictions("classification", strategy, probabilities,
                                 forest_probabilities, probe_probabilities)
    report(output_dir, "classification", truth.to_series().astype(str),
           methods, folds)


def summarize_regression(
        output_dir: str, predictions: pd.Series,
        truth: qiime2.NumericMetadataColumn, folds: qiime2.Metadata,
        forest_predictions: pd.Series = None,
        probe_predictions: pd.Series = None,
        strategy: str = DEFAULT_STRATEGY) -> None:
    methods = method_predictions(
        "regression", strategy, predictions.astype(float),
        None if forest_predictions is None else forest_predictions.astype(
            float),
        None if probe_predictions is None else probe_predictions.astype(
            float))
    report(output_dir, "regression", truth.to_series().astype(float),
           methods, folds)
