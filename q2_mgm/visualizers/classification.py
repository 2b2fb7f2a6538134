"""Visualizers: how a fine-tuning run went, and cross-validated accuracy."""
import matplotlib.pyplot as plt
import pandas as pd
import qiime2
from sklearn.metrics import roc_curve

from ..mgm import classification as clf
from .report import Section, render
from ..mgm.model import MGMModel


def loss_section(history, output_dir):
    section = Section(
        "Loss per epoch",
        "Cross-entropy on the training samples and on the held-out "
        "validation samples after each epoch. Training stops when the "
        "validation loss has not improved for 'patience' epochs; the "
        "weights of the best epoch (dashed line) are kept.")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(history["epoch"], history["train_loss"], "o-", label="training")
    if "validation_loss" in history:
        ax.plot(history["epoch"], history["validation_loss"], "s-",
                label="validation")
    best = history.loc[history["best"], "epoch"].iloc[0]
    ax.axvline(best, color="grey", linestyle="--", label=f"best ({best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    section.figure(fig, output_dir, "loss", "Loss per epoch")
    section.table(history.set_index("epoch"), output_dir, "history")
    return section


def training_warnings(manifest, history):
    epochs = manifest["parameters"]["epochs"]
    best = int(history.loc[history["best"], "epoch"].iloc[0])
    warnings = []
    if best == len(history) == epochs:
        warnings.append(
            "The loss was still improving at the last epoch: more epochs "
            "may give a better classifier.")
    if best == 1 and len(history) > 1:
        warnings.append(
            "The first epoch was the best: the learning rate may be too "
            "high, or the validation set too small to judge.")
    if manifest["start_model"]["kind"] == "classifier" and \
            manifest["start_model"]["head"] == "new":
        warnings.append(
            "The starting classifier had other class labels "
            f"({', '.join(manifest['start_model']['labels'])}); its "
            "classification head was re-initialised.")
    return warnings


def summarize_training(output_dir: str, model: MGMModel) -> None:
    clf.require_classifier(model)
    manifest = model.manifest
    history = pd.DataFrame(manifest["history"])
    balance = Section(
        "Class balance",
        "Samples per class used to train and to validate (early stopping). "
        "With class_weight 'balanced', rare classes weigh more in the loss.")
    balance.table(pd.DataFrame(manifest["class_counts"]).rename_axis(
        manifest.get("label_column", "class")))
    settings = Section("Settings")
    settings.table(pd.Series(manifest["parameters"], name="value")
                   .astype(str).to_frame().rename_axis("parameter"))
    start = manifest["start_model"]
    intro = (f"MGM fine-tuned to classify {manifest.get('label_column')!r} "
             f"into {len(model.labels)} classes, starting from a "
             f"{start['kind']} model ({start['source'].get('corpus', '')}); "
             f"{len(history)} epoch(s) run.")
    render(output_dir, "MGM classifier training",
           [loss_section(history, output_dir), balance, settings],
           intro=intro, warnings=training_warnings(manifest, history))


def by_fold(folds):
    """(fold, sample IDs) pairs, folds in natural order (2 before 10)."""
    groups = folds.groupby(folds).groups
    return [(k, groups[k]) for k in sorted(groups, key=lambda k: (len(k), k))]


def fold_scores(truth, predictions, probabilities, folds):
    """Scores per fold, their mean and standard deviation, and pooled."""
    rows = {f"fold {k}": clf.scores(truth, predictions[ids],
                                    probabilities.loc[ids])
            for k, ids in by_fold(folds)}
    table = pd.DataFrame(rows).T
    summary = table.agg(["mean", "std"])
    summary.index = ["mean of folds", "sd of folds"]
    pooled = pd.DataFrame({"all samples (out-of-fold)": clf.scores(
        truth, predictions, probabilities)}).T
    return pd.concat([table, summary, pooled])


def roc_section(truth, probabilities, folds, output_dir):
    section = Section(
        "ROC curves",
        "True against false positive rate as the probability threshold "
        "varies, one curve per class against the rest (out-of-fold "
        "probabilities of all samples); for two classes, also one curve "
        "per fold. The area under the curve (ROC-AUC) is 0.5 for guessing "
        "and 1 for a perfect classifier.")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    curves = [(f"{c} (all)", truth == c, probabilities[c])
              for c in probabilities.columns]
    if probabilities.shape[1] == 2:
        positive = probabilities.columns[1]
        curves = curves[1:] + [
            (f"fold {k}", truth[ids] == positive,
             probabilities.loc[ids, positive])
            for k, ids in by_fold(folds)]
    for name, positive, score in curves:
        if 0 < positive.sum() < len(positive):
            fpr, tpr, _ = roc_curve(positive, score)
            ax.plot(fpr, tpr, lw=2 if "all" in name else 1, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize="small")
    section.figure(fig, output_dir, "roc", "ROC curves")
    return section


def summarize_cross_validation(
        output_dir: str, predictions: pd.Series, probabilities: pd.DataFrame,
        truth: qiime2.CategoricalMetadataColumn,
        folds: qiime2.CategoricalMetadataColumn) -> None:
    predictions = predictions.astype(str)
    ids = predictions.index.intersection(truth.to_series().dropna().index)
    if len(ids) == 0:
        raise ValueError("No predicted sample has a true label in the "
                         "metadata column; check that they belong together.")
    predictions = predictions[ids]
    truth = truth.to_series().reindex(ids).astype(str)
    folds = folds.to_series().reindex(ids).fillna("none").astype(str)
    probabilities = probabilities.loc[ids]
    accuracy = Section(
        "Accuracy per fold",
        "Each fold was predicted by a model fine-tuned on the other folds. "
        "F1 is the macro average over classes; ROC-AUC is one class "
        "against the rest, averaged over classes (NaN where a fold holds a "
        "single class).")
    accuracy.table(fold_scores(truth, predictions, probabilities, folds),
                   output_dir, "fold-scores")
    confusion = Section("Confusion matrix",
                        "Rows: true class; columns: predicted class.")
    confusion.table(pd.crosstab(truth.rename("true"),
                                predictions.rename("predicted")))
    render(output_dir, "MGM cross-validated classification",
           [accuracy, roc_section(truth, probabilities, folds, output_dir),
            confusion],
           intro=f"{len(ids)} samples in {folds.nunique()} folds.")
