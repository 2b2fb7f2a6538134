"""Actions: fine-tune MGM to classify samples, predict, evaluate."""
import inspect
from dataclasses import replace

import biom
import pandas as pd
import qiime2

from ..mgm import classification as clf
from ..mgm.engine import Engine
from ..mgm.model import MGMModel
from ..mgm.training import FINE_TUNING as FIT
from .common import categorical_labels, model_or_pretrained, sentences_of

CLASS_WEIGHT = "balanced"


def class_labels(sample_ids, metadata, missing_samples):
    """Class of each sample (error or leave-out for samples without)."""
    labels = categorical_labels(sample_ids, metadata, missing_samples)
    clf.check_classes(labels)
    return labels


def labelled_sentences(table, taxonomy, metadata, model, missing_samples,
                       drop_unmapped):
    """Sentences of the labelled samples and their labels, aligned."""
    labels = class_labels(table.ids(), metadata, missing_samples)
    table = table.filter(labels.index, inplace=False)
    sentences = sentences_of(table, taxonomy, model, drop_unmapped)
    return sentences, labels.reindex(sentences.sample_ids)


def fit_classifier(table: biom.Table, taxonomy: pd.Series,
                   metadata: qiime2.CategoricalMetadataColumn,
                   model: MGMModel = None, epochs: int = FIT.epochs,
                   learning_rate: float = FIT.learning_rate,
                   batch_size: int = FIT.batch_size,
                   validation_fraction: float = FIT.validation_fraction,
                   patience: int = FIT.patience,
                   class_weight: str = CLASS_WEIGHT,
                   random_state: int = FIT.random_state,
                   missing_samples: str = "error",
                   drop_unmapped: bool = False, device: str = FIT.device,
                   threads: int = FIT.threads) -> MGMModel:
    start = model_or_pretrained(model)
    sentences, labels = labelled_sentences(table, taxonomy, metadata, start,
                                           missing_samples, drop_unmapped)
    clf.check_class_sizes(labels, clf.minimum_per_class(validation_fraction),
                          "Fine-tuning with a validation set")
    settings = replace(
        FIT, epochs=epochs, learning_rate=learning_rate,
        batch_size=batch_size, validation_fraction=validation_fraction,
        patience=patience, random_state=random_state, device=device,
        threads=threads)
    fitted = clf.fine_tune(start, sentences, labels, settings, class_weight)
    fitted.manifest["parameters"].update(missing_samples=missing_samples,
                                         drop_unmapped=drop_unmapped)
    return fitted


def predict_classification(table: biom.Table, taxonomy: pd.Series,
                           model: MGMModel, drop_unmapped: bool = False,
                           batch_size: int = 64, device: str = "auto",
                           threads: int = 0) -> (pd.Series, pd.DataFrame):
    clf.require_classifier(model)
    sentences = sentences_of(table, taxonomy, model, drop_unmapped)
    return clf.predict(Engine(model, device, batch_size, threads), sentences)


FIT_PARAMETERS = [name for name in inspect.signature(fit_classifier)
                  .parameters if name not in ("table", "taxonomy", "metadata",
                                              "model")]


def fit_parameters(arguments):
    """The fit-classifier parameters among a pipeline's arguments."""
    return {name: arguments[name] for name in FIT_PARAMETERS}


def subset_table(ctx, table, sample_ids):
    filter_samples = ctx.get_action("feature_table", "filter_samples")
    keep = qiime2.Metadata(pd.DataFrame(
        index=pd.Index(list(sample_ids), name="sample-id")))
    subset, = filter_samples(table=table, metadata=keep)
    return subset


def importance_artifact(ctx, estimator, table, taxonomy, drop_unmapped,
                        device, threads):
    """FeatureData[Importance] from attention over ``table``'s samples."""
    model = estimator.view(MGMModel)
    sentences = sentences_of(table.view(biom.Table), taxonomy.view(pd.Series),
                             model, drop_unmapped)
    importance = clf.attention_importance(
        Engine(model, device=device, threads=threads), sentences)
    return ctx.make_artifact("FeatureData[Importance]", importance)


def classify_samples(
        ctx, table, taxonomy, metadata, model=None, test_size=0.2,
        epochs=FIT.epochs, learning_rate=FIT.learning_rate,
        batch_size=FIT.batch_size,
        validation_fraction=FIT.validation_fraction, patience=FIT.patience,
        class_weight=CLASS_WEIGHT, random_state=FIT.random_state,
        missing_samples="error", drop_unmapped=False, device=FIT.device,
        threads=FIT.threads):
    params = fit_parameters(locals())
    summarize = ctx.get_action("mgm", "summarize_training")
    confusion = ctx.get_action("sample_classifier", "confusion_matrix")

    labels = class_labels(table.view(biom.Table).ids(), metadata,
                          missing_samples)
    train_ids, test_ids = clf.holdout_split(
        labels, test_size, random_state,
        clf.minimum_per_class(validation_fraction))
    train_table = subset_table(ctx, table, train_ids)
    test_table = subset_table(ctx, table, test_ids)
    estimator, predictions, probabilities = fit_and_predict(
        ctx, train_table, test_table, taxonomy, metadata, model, params)
    accuracy, = confusion(predictions=predictions, truth=metadata,
                          probabilities=probabilities,
                          missing_samples="ignore")
    summary, = summarize(model=estimator)
    importance = importance_artifact(ctx, estimator, train_table, taxonomy,
                                     drop_unmapped, device, threads)
    return (estimator, importance, predictions, summary, accuracy,
            probabilities)


def fit_and_predict(ctx, train_table, test_table, taxonomy, metadata,
                    model, params):
    """Fine-tune on ``train_table``; predict ``test_table``."""
    fit = ctx.get_action("mgm", "fit_classifier")
    predict = ctx.get_action("mgm", "predict_classification")
    estimator, = fit(table=train_table, taxonomy=taxonomy,
                     metadata=metadata, model=model,
                     **{**params, "missing_samples": "ignore"})
    predictions, probabilities = predict(
        table=test_table, taxonomy=taxonomy, model=estimator,
        drop_unmapped=params["drop_unmapped"], device=params["device"],
        threads=params["threads"])
    return estimator, predictions, probabilities


def out_of_fold(ctx, table, taxonomy, metadata, model, folds, params):
    """Predictions and probabilities of each fold's model on its fold."""
    predictions, probabilities = [], []
    for k in sorted(folds.unique()):
        train_table = subset_table(ctx, table, folds.index[folds != k])
        test_table = subset_table(ctx, table, folds.index[folds == k])
        _, fold_predictions, fold_probabilities = fit_and_predict(
            ctx, train_table, test_table, taxonomy, metadata, model, params)
        predictions.append(fold_predictions.view(pd.Series).astype(str))
        probabilities.append(fold_probabilities.view(pd.DataFrame))
    return pd.concat(predictions), pd.concat(probabilities)


def classify_samples_cv(
        ctx, table, taxonomy, metadata, groups=None, model=None, cv=5,
        epochs=FIT.epochs, learning_rate=FIT.learning_rate,
        batch_size=FIT.batch_size,
        validation_fraction=FIT.validation_fraction, patience=FIT.patience,
        class_weight=CLASS_WEIGHT, random_state=FIT.random_state,
        missing_samples="error", drop_unmapped=False, device=FIT.device,
        threads=FIT.threads):
    params = fit_parameters(locals())
    summarize = ctx.get_action("mgm", "summarize_cross_validation")
    labels = class_labels(table.view(biom.Table).ids(), metadata,
                          missing_samples)
    folds = sample_folds(labels, cv, random_state, groups)
    clf.check_fold_training_sets(
        labels, folds, clf.minimum_per_class(validation_fraction))
    predictions, probabilities = out_of_fold(ctx, table, taxonomy, metadata,
                                             model, folds, params)
    order = folds.index.intersection(predictions.index, sort=False)
    classes = sorted(labels.unique())
    predictions = predictions.reindex(order).rename("prediction")
    probabilities = probabilities.reindex(index=order, columns=classes
                                          ).fillna(0.0)
    predictions.index.name = probabilities.index.name = "SampleID"
    predictions = ctx.make_artifact("SampleData[ClassifierPredictions]",
                                    predictions)
    probabilities = ctx.make_artifact("SampleData[Probabilities]",
                                      probabilities)
    fold_column = qiime2.CategoricalMetadataColumn(
        folds.astype(str).rename("fold").rename_axis("sample-id"))
    accuracy, = summarize(predictions=predictions,
                          probabilities=probabilities, truth=metadata,
                          folds=fold_column)
    return predictions, probabilities, accuracy


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
