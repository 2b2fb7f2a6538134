"""Visualizer: how a classifier or regressor was fitted."""
import matplotlib.pyplot as plt
import pandas as pd

from ..mgm.model import MGMModel
from ..mgm.strategies import method_name
from .report import Section, render


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
    section.figure(fig, output_dir, "loss", "Loss per epoch")
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


def selection_section(selection):
    section = Section(
        "Blend weight",
        "The forest's share of the blend (the rest is the linear model on "
        "MGM embeddings) was chosen by "
        f"{selection['folds']}-fold cross-validation within the training "
        f"samples: the weight with the best {selection['metric']} of the "
        "out-of-fold predictions, provided it beats the forest alone by "
        f"{selection.get('margin', 0):g}; otherwise the forest alone.")
    section.table(pd.Series(selection["scores"], name=selection["metric"])
                  .rename_axis("forest weight").to_frame())
    return section


def summarize_training(output_dir: str, model: MGMModel) -> None:
    if model.kind == "pretrained":
        raise ValueError("This is a pretrained MGM, not a classifier or "
                         "regressor; there is no training to summarize.")
    manifest = model.manifest
    strategy = manifest.get("strategy", "fine-tune")
    task = "classification" if model.kind == "classifier" else "regression"
    sections, warnings = [], []
    history = pd.DataFrame(manifest.get("history", []))
    if len(history):
        sections.append(loss_section(history, output_dir))
        warnings = training_warnings(manifest, history)
    if "blend_selection" in manifest:
        sections.append(selection_section(manifest["blend_selection"]))
    if "class_counts" in manifest:
        balance = Section(
            "Class balance",
            "Samples per class used to train and to validate (early "
            "stopping). With class_weight 'balanced', rare classes weigh "
            "more in the loss.")
        balance.table(pd.DataFrame(manifest["class_counts"]).rename_axis(
            manifest.get("label_column", "class")))
        sections.append(balance)
    settings = Section("Settings")
    settings.table(pd.Series(manifest["parameters"], name="value")
                   .astype(str).to_frame().rename_axis("parameter"))
    start = manifest["start_model"]
    weights = ", ".join(f"{part} {weight:g}" for part, weight in
                        manifest.get("weights", {"network": 1}).items())
    target = (f"into {len(model.labels)} classes" if model.labels
              else "as a number")
    intro = (f"MGM {model.kind} of {manifest.get('label_column')!r} "
             f"{target}, strategy {method_name(strategy, task)} "
             f"(weights: {weights}), starting from a {start['kind']} model "
             f"({start['source'].get('corpus', '')}).")
    if len(history):
        intro += f" {len(history)} epoch(s) run."
    render(output_dir, f"MGM {model.kind} training", sections + [settings],
           intro=intro, warnings=warnings)
