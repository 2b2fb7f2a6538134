"""Visualizer: how a classifier or regressor was fitted."""
import matplotlib.pyplot as plt
import pandas as pd

from ..mgm.fit import forest_importance
from ..mgm.heads import PENALTIES
from ..mgm.importance import named
from ..mgm.model import MGMModel
from ..mgm.strategies import method_name
from .report import Section, render

TOP_GENERA = 20
# Parameters that only shape fine-tuning (shown where a network trained).
FINE_TUNING_SETTINGS = ("epochs", "learning_rate", "batch_size",
                        "weight_decay", "warmup_fraction", "warmup_steps",
                        "validation_fraction", "patience", "freeze_layers",
                        "layer_decay", "gradient_accumulation")


def loss_section(history, output_dir):
    section = Section(
        "Loss per epoch",
        "Loss (cross-entropy for classes, squared error of the "
        "standardised value for numbers) on the training samples and on "
        "the held-out validation samples after each epoch. Training stops "
        "when the validation loss has not improved for 'patience' epochs; the "
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
    section.figure(fig, output_dir, "loss",
                   "Loss of the training and validation samples after each "
                   "epoch; dashed line: the best epoch, whose weights are "
                   "kept")
    section.table(history.set_index("epoch"), output_dir, "history")
    return section


def still_improving(history, epochs):
    """Early stopping never triggered (every epoch ran) and the validation
    loss fell over the last epoch."""
    loss = history.get("validation_loss")
    return (len(history) == epochs and loss is not None and len(loss) > 1
            and loss.iloc[-1] < loss.iloc[-2])


def training_warnings(manifest, history):
    epochs = manifest["parameters"]["epochs"]
    best = int(history.loc[history["best"], "epoch"].iloc[0])
    warnings = []
    if still_improving(history, epochs):
        warnings.append(
            "The validation loss was still falling at the last epoch and "
            "early stopping never triggered: more epochs may give a better "
            "model.")
    if best == 1 and len(history) > 1:
        warnings.append(
            "The first epoch was the best: the learning rate may be too "
            "high, or the validation set too small to judge.")
    start = manifest["start_model"]
    if start["kind"] != "pretrained" and start["head"] == "new":
        warnings.append(
            f"The starting {start['kind']} predicted something else "
            f"({', '.join(start['labels']) or 'a value'}); its head was "
            "re-initialised.")
    return warnings


def selection_section(selection, weight):
    section = Section(
        "Blend weight",
        f"The forest's share of the blend is {weight:g} (the rest, "
        f"{1 - weight:g}, is the linear model on MGM embeddings). It was "
        f"chosen by {selection['folds']}-fold cross-validation within the "
        f"training samples: the weight with the best {selection['metric']} "
        "of the out-of-fold predictions, provided it beats the forest alone "
        f"by {selection.get('margin', 0):g}; otherwise the forest alone.")
    section.table(pd.Series(selection["scores"], name=selection["metric"])
                  .rename_axis("forest weight").to_frame())
    return section


def forest_section(model, task, output_dir):
    """Trees, out-of-bag score and the genera of highest importance."""
    heads = model.heads
    trees = len(heads["forest.roots"])
    metric = "accuracy" if task == "classification" else "R²"
    if "forest.oob_score" in heads:
        oob = (f"Its out-of-bag {metric} (each training sample predicted "
               "by the trees that did not draw it) is "
               f"{float(heads['forest.oob_score'][0]):.3f}.")
    else:
        oob = "Its out-of-bag score was not stored when it was fitted."
    importance = named(pd.Series(
        forest_importance(heads), index=heads["forest.genera"].numpy()),
        model.vocabulary)
    shown = min(TOP_GENERA, len(importance))
    section = Section(
        "Random forest",
        f"A random forest of {trees} trees on the genus relative "
        f"abundances of the training samples, which hold "
        f"{len(importance)} genera. {oob} The table shows the {shown} "
        f"genera of highest impurity importance (mean decrease in "
        "impurity, summing to 1 over all genera).")
    section.table(importance.head(shown), output_dir, "forest-importance",
                  label=f"Download the importance of all {len(importance)} "
                        "genera (TSV)")
    return section


def linear_section(model, task):
    """The linear model's penalty and its inner cross-validation."""
    heads = model.heads
    if "linear.penalty" not in heads:
        return Section("Linear model on MGM embeddings",
                       "Its penalty and inner cross-validation were not "
                       "stored when it was fitted.")
    name, penalty, loss = (
        ("logistic regression", "inverse penalty C", "log loss")
        if task == "classification"
        else ("ridge regression", "penalty alpha",
              "squared error of the standardised value"))
    chosen = float(heads["linear.penalty"][0])
    losses = pd.Series(heads["linear.losses"].numpy(),
                       index=pd.Index(PENALTIES[task], name=penalty),
                       name=f"out-of-fold {loss}")
    section = Section(
        "Linear model on MGM embeddings",
        f"A {name} on the standardised mean-pooled embeddings of the "
        f"frozen MGM network. Its {penalty} is {chosen:g}, the one with "
        f"the lowest out-of-fold {loss} "
        f"({losses.loc[chosen]:.4g}) in {int(heads['linear.folds'][0])}-"
        "fold cross-validation within the training samples.")
    section.table(losses.to_frame())
    return section


def balance_section(manifest, trained):
    """Samples per class, and how class weights entered the fit."""
    weight = manifest["parameters"].get("class_weight", "none")
    if trained:
        text = ("Samples per class used to train and to validate (early "
                "stopping).")
        if weight == "balanced":
            text += " With class_weight 'balanced', rare classes weigh " \
                    "more in the loss."
    else:
        text = "Samples per class used to fit the predictor."
        if weight == "balanced" and "linear" in parts_of(manifest):
            text += (" With class_weight 'balanced', rare classes weigh "
                     "more in the logistic regression; the random forest "
                     "weighs every sample alike.")
    balance = Section("Class balance", text)
    balance.table(pd.DataFrame(manifest["class_counts"]).rename_axis(
        manifest.get("label_column", "class")))
    return balance


def parts_of(manifest):
    return [part for part, weight in manifest.get(
        "weights", {"network": 1.0}).items() if weight > 0]


def shown_settings(manifest, trained):
    """The settings that shaped this predictor: fine-tuning's only where
    a network was trained."""
    settings = dict(manifest["parameters"])
    if not trained:
        for name in FINE_TUNING_SETTINGS:
            settings.pop(name, None)
        if "linear" not in parts_of(manifest):
            settings.pop("class_weight", None)
    return pd.Series(settings, name="value").astype(str).to_frame(
        ).rename_axis("parameter")


def summarize_training(output_dir: str, model: MGMModel) -> None:
    if model.kind == "pretrained":
        raise ValueError("This is a pretrained MGM, not a classifier or "
                         "regressor; there is no training to summarize.")
    manifest = model.manifest
    strategy = manifest.get("strategy", "fine-tune")
    task = "classification" if model.kind == "classifier" else "regression"
    history = pd.DataFrame(manifest.get("history", []))
    trained = len(history) > 0
    parts = parts_of(manifest)
    sections, warnings = [], []
    if trained:
        sections.append(loss_section(history, output_dir))
        warnings = training_warnings(manifest, history)
    if "blend_selection" in manifest:
        sections.append(selection_section(manifest["blend_selection"],
                                          manifest["weights"]["forest"]))
    if "forest" in parts:
        sections.append(forest_section(model, task, output_dir))
    if "linear" in parts:
        sections.append(linear_section(model, task))
    if "class_counts" in manifest:
        sections.append(balance_section(manifest, trained))
    settings = Section("Settings")
    settings.table(shown_settings(manifest, trained))
    weights = ", ".join(f"{part} {weight:g}" for part, weight in
                        manifest.get("weights", {"network": 1}).items())
    target = (f"into {len(model.labels)} classes" if model.labels
              else "as a number")
    intro = (f"MGM {model.kind} of {manifest.get('label_column')!r} "
             f"{target}, strategy {method_name(strategy, task)} "
             f"(weights: {weights}).")
    if trained:
        start = manifest["start_model"]
        intro += (f" The network was fine-tuned starting from a "
                  f"{start['kind']} model "
                  f"({start['source'].get('corpus', '')}); "
                  f"{len(history)} epoch(s) run.")
    elif "linear" in parts:
        intro += (" No network was trained: the pretrained MGM network, "
                  "unchanged, embeds the samples for the linear model.")
    else:
        intro += (" No network was trained and MGM takes no part in its "
                  "predictions: the forest reads the genus relative "
                  "abundances.")
    render(output_dir, f"MGM {model.kind} training", sections + [settings],
           intro=intro, warnings=warnings)
