"""What the interpretation statistics cost beside the screens they judge.

On a real disease cohort of ../shared/data/disease (default
CRC_Metagenomics_6, 157 samples, Case against Control), in one process:
  perturb: the screen alone (embed the reference, perturb the target's
    genera: what `qiime mgm perturb` ran before it had a null) against
    the whole action with its null of random groupings;
  leave-one-genus-out: the removals alone against the whole action with
    its rank-matched null;
  keystone tests: the attention pass alone against it plus the three
    tests with bootstrap intervals.
Prints seconds and the ratio of each pair.

    .venv/bin/python bench/interpretation_nulls.py [--cohort NAME]
"""
import argparse
import time

import biom
import numpy as np
import pandas as pd
import qiime2

from _common import SHARED
from q2_mgm.mgm import interpretation as interpret
from q2_mgm.mgm import keystones
from q2_mgm.mgm.engine import Engine
from q2_mgm.mgm.model import load_pretrained
from q2_mgm.mgm.tokens import tokenize


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def perturb_screen(engine, sentences, labels, genus_ids, pooling):
    """Reference centroid and the target's perturbations, no null."""
    reference = sentences.select(labels.index[labels == "Control"])
    target = sentences.select(labels.index[labels == "Case"])
    centroid = engine.embed(reference, pooling).mean(0)
    return [interpret.cosine_to(after, centroid)
            for _, _, after in interpret.perturbed_embeddings(
                engine, target, genus_ids, interpret.MODES, pooling)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", default="CRC_Metagenomics_6")
    parser.add_argument("--top-n", type=int, default=20)
    args = parser.parse_args()
    from qiime2.plugins.mgm.actions import leave_one_genus_out, perturb

    stem = SHARED / "disease" / args.cohort
    table = qiime2.Artifact.load(f"{stem}-table.qza")
    taxonomy = qiime2.Artifact.load(f"{stem}-taxonomy.qza")
    metadata = qiime2.Metadata.load(f"{stem}-metadata.tsv")
    column = metadata.get_column("label")
    model = load_pretrained()
    engine = Engine(model, device="cpu")
    sentences, _ = tokenize(table.view(biom.Table), taxonomy.view(pd.Series),
                            model.vocabulary, drop_unmapped=True)
    labels = column.to_series().reindex(sentences.sample_ids)
    target = sentences.select(labels.index[labels == "Case"])
    chosen = interpret.target_prevalence(target, model.vocabulary) \
        .index[:args.top_n]
    genus_ids = [model.vocabulary.token_id(g) for g in chosen]
    print(f"{args.cohort}: {len(sentences)} samples ({(labels == 'Case').sum()}"
          f" Case, {(labels == 'Control').sum()} Control), "
          f"{args.top_n} genera, 3 modes")
    perturb_screen(engine, sentences.subset(np.arange(8)),
                   labels.iloc[:8], genus_ids, "mean")   # warm up

    screen_s, _ = timed(lambda: perturb_screen(engine, sentences, labels,
                                               genus_ids, "mean"))
    action_s, effects = timed(lambda: perturb(
        table, taxonomy, metadata=column, reference_group="Control",
        target_group="Case", top_n=args.top_n)[0].view(pd.DataFrame))
    print(f"perturb: screen {screen_s:.1f} s, with the null "
          f"({int(effects['null_draws'].max())} draws) {action_s:.1f} s: "
          f"{action_s / screen_s:.2f}x; {int((effects['null_q'] < 0.05).sum())}"
          f" of {len(effects)} rows beyond the null at q < 0.05 "
          f"({int((effects['wilcoxon_q'] < 0.05).sum())} by the Wilcoxon "
          "test)")

    removals_s, _ = timed(lambda: interpret.removal_similarities(
        engine, sentences, genus_ids, "mean"))
    action_s, effects = timed(lambda: leave_one_genus_out(
        table, taxonomy, top_n=args.top_n)[0].view(pd.DataFrame))
    print(f"leave-one-genus-out: removals {removals_s:.1f} s, with the null "
          f"({int(effects['null_draws'].max())} draws) {action_s:.1f} s: "
          f"{action_s / removals_s:.2f}x")

    attention_s, received = timed(lambda: interpret.attention(
        engine, sentences, model.vocabulary))
    groups = labels.astype(str)
    tests_s, tests = timed(lambda: keystones.keystone_tests(
        received.matrix(model.vocabulary),
        received.presence(model.vocabulary), groups, 0.1))
    print(f"keystone tests: attention {attention_s:.1f} s, tests with "
          f"bootstrap intervals {tests_s:.1f} s: "
          f"{(attention_s + tests_s) / attention_s:.2f}x; "
          f"{len(tests)} genera tested")


if __name__ == "__main__":
    main()
