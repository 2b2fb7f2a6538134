"""What the classification and regression actions share: fitting and
predicting with any strategy, and evaluating the chosen strategy beside
the baselines on the same splits."""
import logging
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import qiime2

from ..mgm import fit, importance, strategies
from ..mgm.engine import Engine
from ..mgm.labels import sample_labels
from ..mgm.tokens import genus_table
from ..mgm.training import FINE_TUNING, TrainingSettings
from .common import model_or_pretrained, notice, sentences_of

FOLD_COLUMN = "fold"
log = logging.getLogger("q2_mgm")
WEIGHT_COLUMN = "forest weight"


def settings_of(params):
    """Training settings from an action's parameters."""
    names = {f.name for f in fields(TrainingSettings)}
    return replace(FINE_TUNING, **{k: v for k, v in params.items()
                                   if k in names})


def predictor_samples(table, taxonomy, model, drop_unmapped, sample_ids):
    """``Samples`` of the given samples of a table (unmapped dropped or
    an error, as ``drop_unmapped`` says), and their ``GenusTable``."""
    table = table.filter(sample_ids, inplace=False)
    sentences = sentences_of(table, taxonomy, model, drop_unmapped)
    genera = genus_table(table, taxonomy, model.vocabulary)
    return strategies.samples_of(genera, model.vocabulary, sentences), genera


def subjects(groups, sample_ids):
    """The subject of each sample as strings (None without groups)."""
    if groups is None:
        return None
    return sample_labels(sample_ids, groups.to_series(), "error",
                         groups.name).to_numpy()


def fit_predictor(table, taxonomy, targets, model, groups, labels, params):
    """Fit the strategy of ``params`` on the samples of ``targets``; the
    predictor and its importance of each genus."""
    start = model_or_pretrained(model)
    samples, _ = predictor_samples(table, taxonomy, start,
                                   params["drop_unmapped"], targets.index)
    targets = targets.reindex(samples.sentences.sample_ids)
    settings = settings_of(params)
    fitted = strategies.fit(
        params["strategy"], start, samples, targets, settings,
        labels, params.get("class_weight", "none"),
        subjects(groups, targets.index))
    fitted.manifest["parameters"].update(
        missing_samples=params["missing_samples"],
        drop_unmapped=params["drop_unmapped"],
        groups=None if groups is None else groups.name)
    return fitted, importance_of(fitted, samples, targets, settings)


def importance_of(fitted, samples, targets, settings):
    """The fitted predictor's importance of each genus on its training
    samples (``importance.predictor_importance``)."""
    log.info("Importance of each genus: %s", importance.measure(fitted))
    engine = Engine(fitted, settings.device, threads=settings.threads)
    return importance.predictor_importance(fitted, engine, samples, targets,
                                           settings.random_state)


def predict(table, taxonomy, model, drop_unmapped, batch_size, device,
            threads, precision):
    """Probabilities or values of every sample of a table that the
    predictor can see, and the fit of each (``fit.table_fit``): samples
    with none of its genera are an error or dropped, as ``drop_unmapped``
    says, and a table that fits poorly is a warning, logged and written
    atop the fit (``attrs["warning"]``)."""
    samples, genera = predictor_samples(table, taxonomy, model,
                                        drop_unmapped, table.ids())
    fitted = fit.table_fit(genera, model).loc[samples.sentences.sample_ids]
    blind = fitted[fit.READS] == 0
    fit.unseen(fitted.index[blind], fit.described(model), drop_unmapped)
    samples, fitted = samples.subset(np.flatnonzero(~blind)), fitted[~blind]
    if not len(fitted):
        raise ValueError(
            f"No sample is left to predict: all {len(table.ids())} "
            f"sample(s) of the table were dropped (drop_unmapped) for "
            f"holding no genus of the MGM vocabulary or none of "
            f"{fit.described(model)}. Check that the table was classified "
            "against the same reference database as the training table "
            "(`qiime mgm summarize-coverage` with this predictor shows the "
            "fit of each sample).")
    warning = fit.warning(fitted, genera, model)
    if warning:
        notice(warning)
        fitted.attrs["warning"] = warning
    return strategies.predict(model, Engine(model, device, batch_size,
                                            threads, precision),
                              samples), fitted


def evaluate(table, taxonomy, model, targets, labels, splits, params,
             groups=None):
    """The strategy and the baselines, fitted on each split's training
    samples and predicting its test samples.

    ``splits``: (name, train IDs, test IDs) triples. Returns the
    predictions of each method (strategy first), the fold metadata
    (fold of each test sample, the blend's forest weight and the sample's
    fit to the strategy's model) and the strategy's model of each split.
    """
    start = model_or_pretrained(model)
    settings = settings_of(params)
    samples, genera = predictor_samples(table, taxonomy, start,
                                        params["drop_unmapped"],
                                        targets.index)
    checked = seen_splits(samples, splits, params["drop_unmapped"])
    # Every frozen predictor of every split shares one embedding pass.
    samples = strategies.embedded(samples, start, settings)
    ids = samples.sentences.sample_ids
    targets = targets.reindex(ids)
    group = subjects(groups, ids)
    strategy = params["strategy"]
    methods = [strategy] + [b for b in strategies.BASELINES
                            if b != strategy]
    out = {method: [] for method in methods}
    folds, models, importances = [], [], []
    for name, train, test in checked:
        for method in methods:
            log.info("Fold %s of %d: fitting %s on %d samples", name,
                     len(splits), method, len(train))
            fitted = strategies.fit(
                method, start, samples.subset(train), targets.iloc[train],
                settings, labels, params.get("class_weight", "none"),
                None if group is None else group[train])
            engine = Engine(fitted, settings.device, threads=settings.threads)
            out[method].append(strategies.predict(
                fitted, engine, samples.subset(test)))
            if method == strategy:
                models.append(fitted)
                importances.append(importance_of(
                    fitted, samples.subset(train), targets.iloc[train],
                    settings))
                folds.append(fold_metadata_of(fitted, genera, ids[test],
                                              name))
    fold_metadata = pd.concat(folds).rename_axis("sample-id")
    if strategy != "blend":
        fold_metadata = fold_metadata.drop(columns=WEIGHT_COLUMN)
    return ({m: pd.concat(p) for m, p in out.items()},
            qiime2.Metadata(fold_metadata), models,
            importance.mean_importance(importances))


def seen_splits(samples, splits, drop_unmapped):
    """(name, training positions, test positions) of each split, checked
    before any fitting: a test sample with none of the genera of its
    training samples is an error, or left out with ``drop_unmapped``."""
    ids = samples.sentences.sample_ids
    checked = []
    for name, train_ids, test_ids in splits:
        train = ids.get_indexer(ids.intersection(train_ids, sort=False))
        test = ids.get_indexer(ids.intersection(test_ids, sort=False))
        known = strategies.present_genera(samples.abundances.iloc[train])
        blind = ~(samples.abundances.iloc[test][known] > 0).any(
            axis=1).to_numpy()
        fit.unseen(ids[test[blind]], f"the {len(known):,} genera of the "
                   f"training samples of split {name!r}", drop_unmapped)
        checked.append((name, train, test[~blind]))
    return checked


def fold_metadata_of(fitted, genera, test_ids, name):
    """Fold metadata of one split's test samples: the fold, the blend's
    forest weight and the fit of each sample to the fitted strategy."""
    fitted_fit = fit.table_fit(genera, fitted).loc[test_ids]
    warning = fit.warning(fitted_fit, genera, fitted)
    if warning:
        log.warning("Split %s: %s", name, warning)
    fitted_fit.insert(0, FOLD_COLUMN, str(name))
    fitted_fit.insert(1, WEIGHT_COLUMN,
                      fitted.manifest["weights"].get("forest", np.nan))
    return fitted_fit


def cv_splits(folds):
    """(fold, train IDs, test IDs) of a fold assignment."""
    return [(k, folds.index[folds != k], folds.index[folds == k])
            for k in sorted(folds.unique())]
