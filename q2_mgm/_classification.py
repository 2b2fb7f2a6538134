"""Actions: fine-tune MGM to classify samples, predict, evaluate."""
import biom
import pandas as pd
import qiime2

from . import classification as clf
from ._embedding import model_or_pretrained
from .model import MGMModel
from .tokens import tokenize
from .training import TrainingSettings

DEFAULTS = {"epochs": 20, "learning_rate": 1e-4, "batch_size": 16,
            "validation_fraction": 0.2, "patience": 3,
            "class_weight": "balanced", "random_state": 0,
            "missing_samples": "error", "drop_unmapped": False,
            "device": "auto", "threads": 0}


def labelled_sentences(table, taxonomy, metadata, model, missing_samples,
                       drop_unmapped):
    """Sentences of the labelled samples and their labels, aligned."""
    labels = clf.sample_labels(table.ids(), metadata, missing_samples)
    table = table.filter(labels.index, inplace=False)
    sentences, dropped = tokenize(table, taxonomy, model.vocabulary,
                                  drop_unmapped=drop_unmapped,
                                  max_length=model.max_length)
    if dropped:
        print(f"Left out {len(dropped)} sample(s) without a vocabulary "
              f"genus: {', '.join(map(str, dropped))}")
    return sentences, labels.reindex(sentences.sample_ids)


def fit_classifier(table: biom.Table, taxonomy: pd.Series,
                   metadata: qiime2.CategoricalMetadataColumn,
                   model: MGMModel = None,
                   epochs: int = DEFAULTS["epochs"],
                   learning_rate: float = DEFAULTS["learning_rate"],
                   batch_size: int = DEFAULTS["batch_size"],
                   validation_fraction: float =
                   DEFAULTS["validation_fraction"],
                   patience: int = DEFAULTS["patience"],
                   class_weight: str = DEFAULTS["class_weight"],
                   random_state: int = DEFAULTS["random_state"],
                   missing_samples: str = DEFAULTS["missing_samples"],
                   drop_unmapped: bool = DEFAULTS["drop_unmapped"],
                   device: str = DEFAULTS["device"],
                   threads: int = DEFAULTS["threads"]) -> MGMModel:
    start = model_or_pretrained(model)
    sentences, labels = labelled_sentences(table, taxonomy, metadata, start,
                                           missing_samples, drop_unmapped)
    clf.check_class_sizes(labels, clf.minimum_per_class(validation_fraction),
                          "Fine-tuning with a validation set")
    settings = TrainingSettings(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
        patience=patience, random_state=random_state, device=device,
        threads=threads)
    fitted = clf.fine_tune(start, sentences, labels, settings,
                           validation_fraction, class_weight)
    fitted.manifest["parameters"].update(missing_samples=missing_samples,
                                         drop_unmapped=drop_unmapped)
    return fitted


def predict_classification(table: biom.Table, taxonomy: pd.Series,
                           model: MGMModel, drop_unmapped: bool = False,
                           batch_size: int = 64, device: str = "auto",
                           threads: int = 0) -> (pd.Series, pd.DataFrame):
    clf.require_classifier(model)
    sentences, _ = tokenize(table, taxonomy, model.vocabulary,
                            drop_unmapped=drop_unmapped,
                            max_length=model.max_length)
    return clf.predict(model, sentences, batch_size, device, threads)


def fit_parameters(kwargs):
    """The fit-classifier parameters among a pipeline's arguments."""
    return {k: v for k, v in kwargs.items() if k in DEFAULTS}


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
    sentences, _ = tokenize(table.view(biom.Table), taxonomy.view(pd.Series),
                            model.vocabulary, drop_unmapped=drop_unmapped,
                            max_length=model.max_length)
    importance = clf.attention_importance(model, sentences, device=device,
                                          threads=threads)
    return ctx.make_artifact("FeatureData[Importance]", importance)


def classify_samples(ctx, table, taxonomy, metadata, model=None,
                     test_size=0.2, epochs=DEFAULTS["epochs"],
                     learning_rate=DEFAULTS["learning_rate"],
                     batch_size=DEFAULTS["batch_size"],
                     validation_fraction=DEFAULTS["validation_fraction"],
                     patience=DEFAULTS["patience"],
                     class_weight=DEFAULTS["class_weight"],
                     random_state=DEFAULTS["random_state"],
                     missing_samples=DEFAULTS["missing_samples"],
                     drop_unmapped=DEFAULTS["drop_unmapped"],
                     device=DEFAULTS["device"], threads=DEFAULTS["threads"]):
    params = fit_parameters(locals())
    summarize = ctx.get_action("mgm", "summarize_training")
    confusion = ctx.get_action("sample_classifier", "confusion_matrix")

    labels = clf.sample_labels(table.view(biom.Table).ids(), metadata,
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


def classify_samples_cv(ctx, table, taxonomy, metadata, groups=None,
                        model=None, cv=5, epochs=DEFAULTS["epochs"],
                        learning_rate=DEFAULTS["learning_rate"],
                        batch_size=DEFAULTS["batch_size"],
                        validation_fraction=DEFAULTS["validation_fraction"],
                        patience=DEFAULTS["patience"],
                        class_weight=DEFAULTS["class_weight"],
                        random_state=DEFAULTS["random_state"],
                        missing_samples=DEFAULTS["missing_samples"],
                        drop_unmapped=DEFAULTS["drop_unmapped"],
                        device=DEFAULTS["device"],
                        threads=DEFAULTS["threads"]):
    params = fit_parameters(locals())
    summarize = ctx.get_action("mgm", "summarize_cross_validation")
    labels = clf.sample_labels(table.view(biom.Table).ids(), metadata,
                               missing_samples)
    folds = clf.cv_folds(labels, cv, random_state,
                         None if groups is None else groups.to_series())
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
