"""Whole actions against the machine and against their parts.

1. `qiime mgm embed` through the Python API (reading the BIOM file,
   tokenizing, the forward pass, writing the artifact) on gut-like tables
   whose sentences average about 31, 123 and 294 tokens: its useful FLOP
   rate (as ``flops.py`` counts it) against a float32 2048 x 2048 matrix
   multiply timed around it in the same process.
2. `qiime mgm classify-samples-cv` with the default strategy on a real
   cohort (default T2D_Metagenomics_1, 359 samples) against its parts:
   one embedding pass of the table and the forest's 5-fold
   cross-validation.

    .venv/bin/python bench/actions.py [--cohort NAME] [--repeat 2]
"""
import argparse
import time

import biom
import pandas as pd
import qiime2

from _common import SHARED, gut_like_table
from flops import matmul_rate, useful_flops
from q2_mgm.mgm import heads, strategies
from q2_mgm.mgm.engine import Engine, set_threads
from q2_mgm.mgm.model import load_pretrained
from q2_mgm.mgm.splits import cv_folds
from q2_mgm.mgm.tokens import genus_table, tokenize

# (genera per sample: low, high; samples): about 31, 123 and 294 tokens
LENGTHS = (((25, 33), 2000), ((110, 132), 500), ((270, 314), 200))


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def embed_rate(embed, table, taxonomy, flops, repeat):
    """Best ratio of the action's rate to the matrix multiply's, measured
    right before and after each run."""
    ratios = []
    for _ in range(repeat):
        before = matmul_rate()
        seconds, _ = timed(lambda: embed(table, taxonomy))
        ratios.append(flops / seconds / max(before, matmul_rate()))
    return max(ratios), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", default="T2D_Metagenomics_1")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    set_threads(args.threads)
    from qiime2.plugins.mgm.actions import classify_samples_cv, embed
    model = load_pretrained()
    for (low, high), n in LENGTHS:
        table, taxonomy, vocabulary = gut_like_table(n, low=low, high=high)
        sentences, _ = tokenize(table, taxonomy, vocabulary)
        flops = useful_flops(sentences.lengths, model.network.config)
        table = qiime2.Artifact.import_data("FeatureTable[Frequency]", table)
        taxonomy = qiime2.Artifact.import_data(
            "FeatureData[Taxonomy]", taxonomy.rename("Taxon").rename_axis(
                "Feature ID"))
        embed(table, taxonomy)   # first call pays one-time costs
        ratio, seconds = embed_rate(embed, table, taxonomy, flops,
                                    args.repeat)
        print(f"embed, {n} samples of {sentences.lengths.mean():.0f} tokens "
              f"on average: {seconds:.1f} s, {ratio:.0%} of the matrix-"
              "multiply rate", flush=True)

    stem = SHARED / "disease" / args.cohort
    table = qiime2.Artifact.load(f"{stem}-table.qza")
    taxonomy = qiime2.Artifact.load(f"{stem}-taxonomy.qza")
    column = qiime2.Metadata.load(f"{stem}-metadata.tsv").get_column("label")
    action_s, _ = timed(lambda: classify_samples_cv(table, taxonomy, column))
    view, lineages = table.view(biom.Table), taxonomy.view(pd.Series)
    sentences, _ = tokenize(view, lineages, model.vocabulary,
                            drop_unmapped=True)
    embed_s, _ = timed(lambda: Engine(model, "cpu").embed(sentences, "mean"))
    samples = strategies.samples_of(
        genus_table(view, lineages, model.vocabulary), model.vocabulary,
        sentences)
    labels = column.to_series().reindex(sentences.sample_ids)
    folds = cv_folds(labels, 5, 0, classes=True)

    def forest_cv():
        for k in sorted(folds.unique()):
            train = (folds != k).to_numpy()
            abundances = samples.abundances[train]
            present = (abundances > 0).any().to_numpy()
            heads.fit_forest(abundances.loc[:, present].to_numpy(),
                             labels[train].to_numpy(), "classification", 0,
                             args.threads)
    forest_s, _ = timed(forest_cv)
    parts = embed_s + forest_s
    print(f"classify-samples-cv (default strategy), {args.cohort} "
          f"({len(sentences)} samples): {action_s:.1f} s; one embedding "
          f"pass {embed_s:.1f} s + the forest's 5-fold cross-validation "
          f"{forest_s:.1f} s = {parts:.1f} s; ratio {action_s / parts:.2f}")


if __name__ == "__main__":
    main()
