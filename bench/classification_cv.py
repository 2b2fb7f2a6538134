"""5-fold cross-validated ROC-AUC of every classification strategy and
both baselines, on the same folds, beside the published figures.

Cohorts: the six disease-vs-control cohorts of ``../shared/data/disease``
(published MGM, RandomForest and TabPFN AUROC from the independent
benchmark, same split: StratifiedKFold(5, shuffle, seed 42), score = mean
of the 5 fold AUROCs) and the mouse diet data (folds grouped by mouse;
a fold that holds one diet only has no ROC-AUC and is left out of the
mean).

    .venv/bin/python bench/classification_cv.py [--data ../shared/data]
        [--strategies blend,probe,forest] [--cohorts T2D,ASD,...]
        [--candidates layers-probe,forest+pcs,...] [--seed 42]

'forest' and 'probe' are the baselines every evaluation report shows;
'fine-tune', 'lp-ft' and 'ensemble' train MGM and take minutes to hours
per cohort on a CPU (``--epochs`` bounds them). ``--candidates`` adds the
candidate uses of MGM of ``candidates.py`` on the same folds.
"""
import argparse
import time
from dataclasses import replace
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import qiime2

from candidates import CANDIDATES, Features, predict
from q2_mgm.mgm import evaluation, strategies
from q2_mgm.mgm import model as mgm_model
from q2_mgm.mgm.engine import Engine
from q2_mgm.mgm.splits import cv_folds
from q2_mgm.mgm.tokens import genus_table, tokenize
from q2_mgm.mgm.training import FINE_TUNING

PUBLISHED = ("published_auroc_MGM", "published_auroc_RandomForest",
             "published_auroc_TabPFN")


def load(data, name, column, group_column=None):
    table = qiime2.Artifact.load(str(data / f"{name}-table.qza")
                                 ).view(biom.Table)
    taxonomy = qiime2.Artifact.load(str(data / f"{name}-taxonomy.qza")
                                    ).view(pd.Series)
    metadata = qiime2.Metadata.load(str(data / f"{name}-metadata.tsv")
                                    ).to_dataframe()
    groups = None if group_column is None else metadata[group_column]
    return table, taxonomy, metadata[column].astype(str), groups


def cross_validate(task, pretrained, methods, settings, seed,
                   candidates=()):
    """Mean of the per-fold ROC-AUCs of each method (strategies, then
    ``candidates.py``'s candidates) on the same folds."""
    table, taxonomy, labels, groups = task
    sentences, _ = tokenize(table, taxonomy, pretrained.vocabulary)
    samples = strategies.samples_of(
        genus_table(table, taxonomy, pretrained.vocabulary),
        pretrained.vocabulary, sentences)
    ids = sentences.sample_ids
    labels = labels.reindex(ids).rename("label")
    classes = sorted(labels.unique())
    folds = cv_folds(labels, 5, seed,
                     None if groups is None else groups.reindex(ids),
                     classes=True)
    rows, out = {}, {}
    for method in methods:
        start, predicted, chosen = time.time(), [], []
        if method == "ensemble" and {"fine-tune", "forest"} <= set(out):
            # The ensemble trains the very network 'fine-tune' trains (same
            # seed and settings): its probabilities are the mean of both.
            out[method] = (out["fine-tune"] + out["forest"]) / 2
            rows[method] = summary(labels, out[method], folds, [0.5] * 5,
                                   time.time() - start)
            print(method, rows[method], flush=True)
            continue
        for k in sorted(folds.unique()):
            train = np.flatnonzero((folds != k).to_numpy())
            test = np.flatnonzero((folds == k).to_numpy())
            fitted = strategies.fit(
                method, pretrained, samples.subset(train),
                labels.iloc[train], settings, classes, "balanced",
                None if groups is None
                else groups.reindex(ids).to_numpy()[train])
            predicted.append(strategies.predict(
                fitted, Engine(fitted, "cpu"), samples.subset(test)))
            chosen.append(fitted.manifest["weights"].get("forest"))
        out[method] = pd.concat(predicted).loc[ids]
        rows[method] = summary(labels, out[method], folds, chosen,
                               time.time() - start)
        print(method, rows[method], flush=True)
    if candidates:
        start = time.time()
        features = Features(pretrained, samples)
        shared = time.time() - start
        print(f"candidate features: {shared:.0f} s", flush=True)
    for name in candidates:
        start, predicted, chosen = time.time(), [], []
        for k in sorted(folds.unique()):
            train = np.flatnonzero((folds != k).to_numpy())
            test = np.flatnonzero((folds == k).to_numpy())
            probabilities, weight = predict(
                name, features, labels.to_numpy(), train, test, classes,
                settings)
            predicted.append(probabilities.set_axis(ids[test]))
            chosen.append(weight)
        rows[name] = summary(labels, pd.concat(predicted).loc[ids], folds,
                             chosen, time.time() - start + shared)
        print(name, rows[name], flush=True)
    return rows


def summary(labels, probabilities, folds, chosen, seconds):
    aucs = [evaluation.roc_auc(labels[ids], probabilities.loc[ids])
            for _, ids in evaluation.by_fold(folds)]
    return {"ROC-AUC": float(np.nanmean(aucs)),
            "folds": " ".join(f"{a:.2f}" for a in aucs),
            "forest weights": " ".join("-" if w is None else f"{w:g}"
                                       for w in chosen),
            "seconds": round(seconds)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2]
                        / "shared" / "data")
    parser.add_argument("--strategies", default="forest,blend,probe")
    parser.add_argument("--cohorts", default="",
                        help="comma-separated name prefixes (default: all)")
    parser.add_argument("--epochs", type=int, default=FINE_TUNING.epochs)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--candidates", default="",
                        help="comma-separated candidates of candidates.py "
                             f"({', '.join(CANDIDATES)}), after the "
                             "strategies")
    args = parser.parse_args()
    pretrained = mgm_model.load_pretrained()
    settings = replace(FINE_TUNING, epochs=args.epochs, device="cpu",
                       random_state=args.seed)
    methods = args.strategies.split(",")
    cohorts = pd.read_csv(args.data / "disease" / "cohorts.tsv", sep="\t",
                          index_col="name")
    tasks = {name: (lambda name=name: load(args.data / "disease", name,
                                           "label"))
             for name in cohorts.index}
    tasks["mouse diet (grouped)"] = lambda: load(args.data, "mouse", "diet",
                                                 "mouseID")
    wanted = [w for w in args.cohorts.split(",") if w]
    table = []
    for name, task in tasks.items():
        if wanted and not any(name.startswith(w) for w in wanted):
            continue
        print(f"== {name}", flush=True)
        rows = cross_validate(task(), pretrained, methods, settings,
                              args.seed, [c for c in
                                          args.candidates.split(",") if c])
        row = {"cohort": name, **{m: r["ROC-AUC"] for m, r in rows.items()}}
        if name in cohorts.index:
            row.update({c.split("_")[-1] + " (published)":
                        cohorts.loc[name, c] for c in PUBLISHED})
        table.append(row)
    result = pd.DataFrame(table).set_index("cohort")
    disease = result[result.index.isin(cohorts.index)]
    if len(disease) > 1:
        result.loc["mean of disease cohorts"] = disease.mean()
    print(result.to_string(float_format="{:.3f}".format))
    for method in set(result.columns) - {"forest"} - set(
            c for c in result.columns if "published" in c):
        if "forest" in methods:
            gap = disease[method] - disease["forest"]
            print(f"{method} - forest on the disease cohorts: mean "
                  f"{gap.mean():+.3f}, {method} > forest in "
                  f"{(gap > 0).sum()} of {len(gap)}")


if __name__ == "__main__":
    main()
