"""Actions: classify samples with MGM, beside the baselines."""
import biom
import numpy as np
import pandas as pd
import qiime2

from ..mgm import classification as clf
from ..mgm import evaluation
from ..mgm.model import MGMModel
from ..mgm.strategies import DEFAULT_STRATEGY
from ..mgm.training import FINE_TUNING as FIT
from . import prediction
from .common import categorical_labels

CLASS_WEIGHT = "balanced"


def class_labels(sample_ids, metadata, missing_samples):
    """Class of each sample (error or leave-out for samples without)."""
    labels = categorical_labels(sample_ids, metadata, missing_samples)
    clf.check_classes(labels)
    return labels


def fit_classifier(table: biom.Table, taxonomy: pd.Series,
                   metadata: qiime2.CategoricalMetadataColumn,
                   model: MGMModel = None,
                   groups: qiime2.MetadataColumn = None,
                   strategy: str = DEFAULT_STRATEGY,
                   epochs: int = FIT.epochs,
                   learning_rate: float = FIT.learning_rate,
                   batch_size: int = FIT.batch_size,
                   weight_decay: float = FIT.weight_decay,
                   warmup_steps: int = FIT.warmup_steps,
                   freeze_layers: int = FIT.freeze_layers,
                   layer_decay: float = FIT.layer_decay,
                   validation_fraction: float = FIT.validation_fraction,
                   patience: int = FIT.patience,
                   class_weight: str = CLASS_WEIGHT,
                   random_state: int = FIT.random_state,
                   missing_samples: str = "error",
                   drop_unmapped: bool = False, device: str = FIT.device,
                   threads: int = FIT.threads) -> (MGMModel, pd.DataFrame):
    labels = class_labels(table.ids(), metadata, missing_samples)
    clf.check_class_sizes(labels, 2, "Fitting a classifier")
    return prediction.fit_predictor(table, taxonomy, labels, model, groups,
                                    sorted(labels.unique()), locals())


def predict_classification(table: biom.Table, taxonomy: pd.Series,
                           model: MGMModel, drop_unmapped: bool = False,
                           batch_size: int = 64, device: str = "auto",
                           threads: int = 0, precision: str = "float32"
                           ) -> (pd.Series, pd.DataFrame, pd.DataFrame):
    clf.require_predictor(model, "classifier")
    probabilities, fit = prediction.predict(table, taxonomy, model,
                                            drop_unmapped, batch_size,
                                            device, threads, precision)
    return evaluation.predicted_classes(probabilities), probabilities, fit


def artifacts(ctx, probabilities):
    """(predictions, probabilities) artifacts of class probabilities."""
    probabilities = probabilities.rename_axis("SampleID")
    return (ctx.make_artifact("SampleData[ClassifierPredictions]",
                              evaluation.predicted_classes(probabilities)),
            ctx.make_artifact("SampleData[Probabilities]", probabilities))


def evaluation_outputs(ctx, results, metadata, folds, strategy):
    """Predictions and probabilities of the strategy and each baseline,
    and the report that compares them."""
    summarize = ctx.get_action("mgm", "summarize_cross_validation")
    made = {method: artifacts(ctx, p) for method, p in results.items()}
    report, = summarize(
        probabilities=made[strategy][1], truth=metadata, folds=folds,
        forest_probabilities=made["forest"][1],
        probe_probabilities=made["probe"][1], strategy=strategy)
    return made, report


def importance_outputs(ctx, table, taxonomy, model, metadata, importance):
    """The importance artifact and q2-sample-classifier's heatmap of the
    genus table (collapse-genera) with the top genera by that importance,
    samples summed per class, as its classify-samples draws it (a
    relative-frequency table in parts per million, as the heatmap reads
    frequencies only)."""
    collapse = ctx.get_action("mgm", "collapse_genera")
    heatmap = ctx.get_action("sample_classifier", "heatmap")
    importance = ctx.make_artifact("FeatureData[Importance]", importance)
    if str(table.type) != "FeatureTable[Frequency]":
        table = ctx.make_artifact("FeatureTable[Frequency]", table.view(
            biom.Table).norm(inplace=False).transform(
                lambda values, *_: np.round(values * 1e6), inplace=False))
    genera, = collapse(table=table, taxonomy=taxonomy, model=model)
    drawn, _ = heatmap(genera, importance, sample_metadata=metadata,
                       group_samples=True, missing_samples="ignore")
    return importance, drawn


def classify_samples(
        ctx, table, taxonomy, metadata, groups=None, model=None,
        test_size=0.2,
        strategy=DEFAULT_STRATEGY, epochs=FIT.epochs,
        learning_rate=FIT.learning_rate, batch_size=FIT.batch_size,
        weight_decay=FIT.weight_decay, warmup_steps=FIT.warmup_steps,
        freeze_layers=FIT.freeze_layers, layer_decay=FIT.layer_decay,
        validation_fraction=FIT.validation_fraction, patience=FIT.patience,
        class_weight=CLASS_WEIGHT,
        random_state=FIT.random_state, missing_samples="error",
        drop_unmapped=False, device=FIT.device, threads=FIT.threads):
    params = locals()
    summarize = ctx.get_action("mgm", "summarize_training")
    view = table.view(biom.Table)
    labels = class_labels(view.ids(), metadata, params["missing_samples"])
    train, test = clf.holdout_split(
        labels, test_size, params["random_state"],
        None if groups is None else groups.to_series())
    results, folds, models, importance = prediction.evaluate(
        view, taxonomy.view(pd.Series), start_model(model), labels,
        sorted(labels.unique()), [("test", train, test)], params, groups)
    made, accuracy = evaluation_outputs(ctx, results, metadata, folds,
                                        params["strategy"])
    estimator = ctx.make_artifact("MGMModel[Classifier]", models[0])
    summary, = summarize(model=estimator)
    importance, heatmap = importance_outputs(
        ctx, table, taxonomy, model, metadata, importance)
    strategy = params["strategy"]
    return (estimator, importance, made[strategy][0], summary, accuracy,
            made[strategy][1], heatmap, *made["forest"], *made["probe"])


def start_model(model):
    return None if model is None else model.view(MGMModel)


def classify_samples_cv(
        ctx, table, taxonomy, metadata, groups=None, model=None, cv=5,
        strategy=DEFAULT_STRATEGY, epochs=FIT.epochs,
        learning_rate=FIT.learning_rate, batch_size=FIT.batch_size,
        weight_decay=FIT.weight_decay, warmup_steps=FIT.warmup_steps,
        freeze_layers=FIT.freeze_layers, layer_decay=FIT.layer_decay,
        validation_fraction=FIT.validation_fraction, patience=FIT.patience,
        class_weight=CLASS_WEIGHT,
        random_state=FIT.random_state, missing_samples="error",
        drop_unmapped=False, device=FIT.device, threads=FIT.threads):
    params = locals()
    view = table.view(biom.Table)
    labels = class_labels(view.ids(), metadata, params["missing_samples"])
    folds = sample_folds(labels, cv, params["random_state"], groups)
    clf.check_training_sets(labels, folds)
    results, fold_metadata, _, importance = prediction.evaluate(
        view, taxonomy.view(pd.Series), start_model(model), labels,
        sorted(labels.unique()), prediction.cv_splits(folds), params,
        groups)
    made, accuracy = evaluation_outputs(ctx, results, metadata,
                                        fold_metadata, params["strategy"])
    importance, heatmap = importance_outputs(
        ctx, table, taxonomy, model, metadata, importance)
    return (*made[params["strategy"]], accuracy, importance, heatmap,
            *made["forest"], *made["probe"])


def sample_folds(labels, cv, random_state, groups=None):
    """Fold of each sample; a subject column keeps subjects in one fold."""
    return clf.cv_folds(labels, cv, random_state,
                        None if groups is None else groups.to_series())


def cv_fold_metadata(metadata, cv, random_state, groups=None):
    """The folds ``classify_samples_cv`` makes, as sample metadata."""
    labels = class_labels(metadata.to_series().index, metadata, "ignore")
    folds = sample_folds(labels, cv, random_state, groups)
    return qiime2.Metadata(folds.astype(str).rename_axis("sample-id")
                           .to_frame())
