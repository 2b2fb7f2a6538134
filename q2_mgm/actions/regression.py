"""Actions: predict a numeric sample property (age, BMI, a biomarker)
with MGM, beside the baselines."""
import math

import biom
import numpy as np
import pandas as pd
import qiime2

from ..mgm import classification as clf
from ..mgm import splits
from ..mgm.labels import sample_labels
from ..mgm.model import MGMModel
from ..mgm.strategies import DEFAULT_STRATEGY
from ..mgm.training import FINE_TUNING as FIT
from . import prediction
from .classification import start_model
from .common import notice

MINIMUM_SAMPLES = 6
MINIMUM_TEST_SAMPLES = 5   # fewer cannot score R² or compare strategies
# A value this many robust standard deviations (1.4826 MAD) from the
# median, or this many times the median's magnitude, is noted as an outlier.
OUTLIER_Z = 50
OUTLIER_RATIO = 100
MAXIMUM_VALUE = 1e100  # squares of larger values overflow double precision


def numeric_values(sample_ids, metadata, missing_samples, purpose):
    """Value of each sample of a numeric metadata column."""
    if not isinstance(metadata, qiime2.NumericMetadataColumn):
        raise ValueError(
            f"The metadata column {metadata.name!r} is categorical; a "
            "regressor needs numbers. Pick a numeric column, or declare "
            "this one numeric with a '#q2:types' row set to 'numeric'.")
    values = sample_labels(sample_ids, metadata.to_series(),
                           missing_samples, metadata.name, dtype=float)
    unusable = values[~(np.abs(values) <= MAXIMUM_VALUE)]
    if len(unusable):
        raise ValueError(
            f"{len(unusable)} sample(s) have a {metadata.name!r} value that "
            f"is infinite or beyond {MAXIMUM_VALUE:g} in magnitude (for "
            f"example {unusable.index[0]}: {unusable.iloc[0]:g}); fitting "
            "and scoring square the values, and such squares overflow. "
            "Rescale the column (another unit, or log10) and fit again.")
    if len(values) < MINIMUM_SAMPLES:
        raise ValueError(
            f"{purpose} needs at least {MINIMUM_SAMPLES} samples with a "
            f"{metadata.name!r} value; {len(values)} have one.")
    if values.nunique() < 2:
        raise ValueError(
            f"Every sample has the same {metadata.name!r} value; there is "
            "nothing to predict. Pick a column whose values vary.")
    far = outliers(values)
    if len(far):
        median = values.median()
        notice(f"{len(far)} sample(s) have a {metadata.name!r} value far "
               f"outside the rest (for example {far.index[0]}: "
               f"{far.iloc[0]:g}; the median is {median:g}): check them for "
               "a typo or another unit. They are used as given, and a few "
               "such values can dominate the fit and its scores.")
    return values


def outliers(values):
    """Values more than ``OUTLIER_Z`` robust standard deviations (1.4826
    times the median absolute deviation, or the interquartile range /
    1.349 where larger) from the median, or at least ``OUTLIER_RATIO``
    times the median's magnitude; farthest first."""
    median = values.median()
    distance = (values - median).abs()
    spread = max(1.4826 * distance.median(),
                 (values.quantile(0.75) - values.quantile(0.25)) / 1.349)
    far = distance > OUTLIER_Z * spread if spread > 0 \
        else pd.Series(False, index=values.index)
    if median != 0:
        far |= values.abs() >= OUTLIER_RATIO * abs(median)
    return values[far].loc[distance[far].sort_values(
        ascending=False, kind="stable").index]


def check_test_size(values, test_size):
    """Error on a test set too small to score."""
    n_test = math.ceil(test_size * len(values))
    if n_test < MINIMUM_TEST_SAMPLES or len(values) - n_test < \
            MINIMUM_SAMPLES:
        raise ValueError(
            f"test_size={test_size} puts {n_test} of {len(values)} samples "
            f"in the test set; R² and the comparison with the baselines "
            f"need at least {MINIMUM_TEST_SAMPLES} test samples and "
            f"{MINIMUM_SAMPLES} training samples. Change test_size.")


def fit_regressor(table: biom.Table, taxonomy: pd.Series,
                  metadata: qiime2.NumericMetadataColumn,
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
                  random_state: int = FIT.random_state,
                  missing_samples: str = "error",
                  drop_unmapped: bool = False, device: str = FIT.device,
                  threads: int = FIT.threads) -> (MGMModel, pd.DataFrame):
    values = numeric_values(table.ids(), metadata, missing_samples,
                            "Fitting a regressor")
    return prediction.fit_predictor(table, taxonomy, values, model, groups,
                                    None, locals())


def predict_regression(table: biom.Table, taxonomy: pd.Series,
                       model: MGMModel, drop_unmapped: bool = False,
                       batch_size: int = 64, device: str = "auto",
                       threads: int = 0, precision: str = "float32"
                       ) -> (pd.Series, pd.DataFrame):
    clf.require_predictor(model, "regressor")
    return prediction.predict(table, taxonomy, model, drop_unmapped,
                              batch_size, device, threads, precision)


def evaluation_outputs(ctx, results, metadata, folds, strategy):
    """Predictions of the strategy and each baseline, and the report that
    compares them."""
    summarize = ctx.get_action("mgm", "summarize_regression")
    made = {method: ctx.make_artifact("SampleData[RegressorPredictions]",
                                      p.rename_axis("SampleID"))
            for method, p in results.items()}
    report, = summarize(predictions=made[strategy], truth=metadata,
                        folds=folds, forest_predictions=made["forest"],
                        probe_predictions=made["probe"], strategy=strategy)
    return made, report


def regress_samples(
        ctx, table, taxonomy, metadata, groups=None, model=None,
        test_size=0.2,
        strategy=DEFAULT_STRATEGY, epochs=FIT.epochs,
        learning_rate=FIT.learning_rate, batch_size=FIT.batch_size,
        weight_decay=FIT.weight_decay, warmup_steps=FIT.warmup_steps,
        freeze_layers=FIT.freeze_layers, layer_decay=FIT.layer_decay,
        validation_fraction=FIT.validation_fraction, patience=FIT.patience,
        random_state=FIT.random_state, missing_samples="error",
        drop_unmapped=False, device=FIT.device, threads=FIT.threads):
    params = locals()
    summarize = ctx.get_action("mgm", "summarize_training")
    view = table.view(biom.Table)
    values = numeric_values(view.ids(), metadata, params["missing_samples"],
                            "A train/test split")
    check_test_size(values, test_size)
    train, test = splits.holdout_split(
        values, test_size, params["random_state"],
        None if groups is None else groups.to_series(), classes=False)
    results, folds, models, importance = prediction.evaluate(
        view, taxonomy.view(pd.Series), start_model(model), values, None,
        [("test", train, test)], params, groups)
    made, accuracy = evaluation_outputs(ctx, results, metadata, folds,
                                        params["strategy"])
    estimator = ctx.make_artifact("MGMModel[Regressor]", models[0])
    summary, = summarize(model=estimator)
    return (estimator, ctx.make_artifact("FeatureData[Importance]",
                                         importance),
            made[params["strategy"]], summary, accuracy, made["forest"],
            made["probe"])


def regress_samples_cv(
        ctx, table, taxonomy, metadata, groups=None, model=None, cv=5,
        strategy=DEFAULT_STRATEGY, epochs=FIT.epochs,
        learning_rate=FIT.learning_rate, batch_size=FIT.batch_size,
        weight_decay=FIT.weight_decay, warmup_steps=FIT.warmup_steps,
        freeze_layers=FIT.freeze_layers, layer_decay=FIT.layer_decay,
        validation_fraction=FIT.validation_fraction, patience=FIT.patience,
        random_state=FIT.random_state, missing_samples="error",
        drop_unmapped=False, device=FIT.device, threads=FIT.threads):
    params = locals()
    view = table.view(biom.Table)
    values = numeric_values(view.ids(), metadata, params["missing_samples"],
                            f"{cv}-fold cross-validation")
    folds = sample_folds(values, cv, params["random_state"], groups)
    results, fold_metadata, _, importance = prediction.evaluate(
        view, taxonomy.view(pd.Series), start_model(model), values, None,
        prediction.cv_splits(folds), params, groups)
    made, accuracy = evaluation_outputs(ctx, results, metadata,
                                        fold_metadata, params["strategy"])
    return (made[params["strategy"]], accuracy,
            ctx.make_artifact("FeatureData[Importance]", importance),
            made["forest"], made["probe"])


def sample_folds(values, cv, random_state, groups=None):
    """Fold of each sample; a subject column keeps subjects in one fold."""
    return splits.cv_folds(values, cv, random_state,
                           None if groups is None else groups.to_series(),
                           classes=False)


def cv_fold_metadata(metadata, cv, random_state, groups=None):
    """The folds ``regress_samples_cv`` makes, as sample metadata."""
    values = numeric_values(metadata.to_series().index, metadata, "ignore",
                            "Cross-validation")
    folds = sample_folds(values, cv, random_state, groups)
    return qiime2.Metadata(folds.astype(str).rename_axis("sample-id")
                           .to_frame())
