"""5-fold cross-validated ROC-AUC of MGM classifiers against baselines.

Methods, all on the same vocabulary-genus table and the same folds:
fine-tuned MGM, MGM trained from scratch (same architecture, random
weights), a logistic-regression probe on pretrained MGM embeddings, and a
random forest on genus relative abundances (as q2-sample-classifier uses).

Tasks: mouse diet (BK vs Western; samples of one mouse in one fold) and
GlobalPatterns environment (host / aquatic / soil-sediment; mock
communities left out).

    .venv/bin/python bench/classification_cv.py [--data ../shared/data]

Defaults keep it short on a CPU: at most 15 epochs, and sentences cut to
their 158 top-ranked genera (GlobalPatterns samples have 200-490; mouse
samples at most 23, so the cut only touches GlobalPatterns).
"""
import argparse
import time
from dataclasses import replace
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import qiime2
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from q2_mgm.mgm import classification as clf
from q2_mgm.mgm import model as mgm_model
from q2_mgm.mgm.engine import Engine
from q2_mgm.mgm.tokens import genus_table, tokenize
from q2_mgm.mgm.training import TrainingSettings

ENVIRONMENTS = {"Feces": "host", "Skin": "host", "Tongue": "host",
                "Freshwater": "aquatic", "Freshwater (creek)": "aquatic",
                "Ocean": "aquatic", "Soil": "soil/sediment",
                "Sediment (estuary)": "soil/sediment"}


def load(data, name):
    table = qiime2.Artifact.load(str(data / f"{name}-table.qza"))
    taxonomy = qiime2.Artifact.load(str(data / f"{name}-taxonomy.qza"))
    metadata = pd.read_csv(data / f"{name}-metadata.tsv", sep="\t",
                           index_col=0, dtype=str)
    return table.view(biom.Table), taxonomy.view(pd.Series), metadata


def mouse_task(data):
    table, taxonomy, metadata = load(data, "mouse")
    return table, taxonomy, metadata["diet"], metadata["mouseID"]


def globalpatterns_task(data):
    table, taxonomy, metadata = load(data, "globalpatterns")
    labels = metadata["SampleType"].map(ENVIRONMENTS).dropna()
    return table.filter(labels.index, inplace=False), taxonomy, labels, None


def relative_genera(table, taxonomy, vocabulary, sample_ids):
    genera = genus_table(table, taxonomy, vocabulary)
    counts = pd.DataFrame(genera.counts.toarray(), index=genera.sample_ids)
    counts = counts.loc[sample_ids]
    return counts.div(counts.sum(1), axis=0).to_numpy()


def sklearn_cv(estimator, features, labels, folds):
    probabilities = []
    for k in sorted(folds.unique()):
        train, test = folds != k, folds == k
        estimator.fit(features[train.to_numpy()], labels[train])
        probabilities.append(pd.DataFrame(
            estimator.predict_proba(features[test.to_numpy()]),
            index=labels.index[test], columns=estimator.classes_))
    return pd.concat(probabilities)


def mgm_cv(start, sentences, labels, folds, settings, fraction):
    probabilities = []
    for k in sorted(folds.unique()):
        train = np.flatnonzero((folds != k).to_numpy())
        test = np.flatnonzero((folds == k).to_numpy())
        fitted = clf.fine_tune(
            start, sentences.subset(train), labels.iloc[train],
            replace(settings, validation_fraction=fraction))
        probabilities.append(clf.predict(Engine(fitted, device="cpu"),
                                         sentences.subset(test))[1])
    return pd.concat(probabilities)


def random_start(pretrained, seed):
    """The pretrained architecture with random weights."""
    torch.manual_seed(seed)
    network = mgm_model.build_network(pretrained.network.config,
                                      "pretrained")
    return mgm_model.MGMModel(network, pretrained.vocabulary,
                              {"kind": "pretrained", "source": {}})


def fold_aucs(truth, probabilities, folds):
    return [clf.roc_auc(truth[folds == k],
                        probabilities.loc[folds.index[folds == k]])
            for k in sorted(folds.unique())]


def run_task(name, task, pretrained, args):
    table, taxonomy, labels, groups = task
    sentences, _ = tokenize(table, taxonomy, pretrained.vocabulary,
                            max_length=args.max_length)
    labels = labels.reindex(sentences.sample_ids).astype(str)
    labels.name = "label"
    folds = clf.cv_folds(labels, args.folds, args.seed, groups)
    settings = TrainingSettings(epochs=args.epochs, learning_rate=args.lr,
                                batch_size=args.batch_size,
                                patience=args.patience,
                                random_state=args.seed, device="cpu",
                                threads=args.threads)
    scratch = TrainingSettings(**{**settings.as_dict(),
                                  "learning_rate": args.scratch_lr})
    embeddings = Engine(pretrained, device="cpu").embed(sentences)
    abundances = relative_genera(table, taxonomy, pretrained.vocabulary,
                                 sentences.sample_ids)
    methods = {
        "MGM fine-tuned": lambda: mgm_cv(pretrained, sentences, labels,
                                         folds, settings, args.validation),
        "MGM from scratch": lambda: mgm_cv(
            random_start(pretrained, args.seed), sentences, labels, folds,
            scratch, args.validation),
        "LR probe (pretrained emb.)": lambda: sklearn_cv(
            make_pipeline(StandardScaler(),
                          LogisticRegression(C=0.1, max_iter=5000)),
            embeddings, labels, folds),
        "RandomForest (genera)": lambda: sklearn_cv(
            RandomForestClassifier(500, random_state=args.seed, n_jobs=-1),
            abundances, labels, folds),
    }
    rows = []
    for method, fit in methods.items():
        start = time.time()
        aucs = fold_aucs(labels, fit(), folds)
        rows.append({"task": name, "method": method,
                     "ROC-AUC mean": np.nanmean(aucs),
                     "ROC-AUC sd": np.nanstd(aucs),
                     "folds": " ".join(f"{a:.2f}" for a in aucs),
                     "seconds": round(time.time() - start)})
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2]
                        / "shared" / "data")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--scratch-lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--validation", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=160,
                        help="sentence length (top-ranked genera kept)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--tasks", default="mouse,globalpatterns")
    args = parser.parse_args()
    pretrained = mgm_model.load_pretrained()
    tasks = {"mouse diet (grouped by mouse)": mouse_task,
             "GlobalPatterns environment (3 classes)": globalpatterns_task}
    rows = []
    for name, task in tasks.items():
        if name.split()[0].lower() in args.tasks.lower():
            rows += run_task(name, task(args.data), pretrained, args)
    table = pd.DataFrame(rows).set_index(["task", "method"])
    print(table.to_string(float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
