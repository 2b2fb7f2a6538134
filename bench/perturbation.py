"""In-silico perturbation speed: batched vs one forward pass per sentence.

Mouse samples of the Western diet (from ../shared/data), replicated up to
``--samples``, are perturbed for the ``--genera`` genera most prevalent in
them under all three modes (enrich, reduce, delete). The batched path is the
one `qiime mgm perturb` uses (length-sorted batches through the engine); the
baseline runs one forward pass per perturbed sentence, timed on a random
subset of ``--baseline-sentences`` of the same sentences and extrapolated.
Prints sentences/s of both, the speed-up (a ratio measured in the same
process) and the largest difference in cosine similarity between the two.

    .venv/bin/python bench/perturbation.py --samples 200 --genera 10
"""
import argparse
import time

import biom
import numpy as np
import torch
import pandas as pd
import qiime2

from _common import SHARED
from q2_mgm.mgm import interpretation as interpret
from q2_mgm.mgm.engine import Engine, pool
from q2_mgm.mgm.model import load_pretrained
from q2_mgm.mgm.tokens import tokenize


def load(name):
    return qiime2.Artifact.load(str(SHARED / name))


def western_sentences(model, n_samples):
    table = load("mouse-table.qza").view(biom.Table)
    taxonomy = load("mouse-taxonomy.qza").view(pd.Series)
    diet = qiime2.Metadata.load(str(SHARED / "mouse-metadata.tsv")) \
        .get_column("diet").to_series()
    sentences, _ = tokenize(table, taxonomy, model.vocabulary)
    western = sentences.select(diet.index[diet == "Western"])
    base = sentences.select(diet.index[diet == "BK"])
    repeat = np.resize(np.arange(len(western)), n_samples)
    return western.subset(repeat), base


def one_pass(engine, tokens, pooling):
    """The pooled embedding of one sentence, in a forward pass of its own."""
    with torch.inference_mode():
        ids = torch.as_tensor(tokens[None, :])
        return pool(engine.hidden_states(ids), ids, pooling).numpy()


def baseline(engine, jobs, target, before, centroid, pooling):
    """One forward pass per perturbed sentence (skipping, like the batched
    path, those the perturbation left unchanged)."""
    return np.array([
        before[job[0]] if np.array_equal(job[3], target.sentence(job[0]))
        else interpret.cosine_to(one_pass(engine, job[3], pooling),
                                 centroid)[0]
        for job in jobs])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--genera", type=int, default=10)
    parser.add_argument("--baseline-sentences", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    model = load_pretrained()
    target, reference = western_sentences(model, args.samples)
    engine = Engine(model, device="cpu", batch_size=args.batch_size,
                    threads=args.threads)
    pooling = model.default_pooling
    centroid = engine.embed(reference, pooling).mean(0)
    genera = interpret.target_prevalence(target, model.vocabulary) \
        .index[:args.genera]
    ids = [model.vocabulary.token_id(g) for g in genera]

    start = time.perf_counter()
    batched = interpret.perturbation_similarities(
        engine, target, ids, interpret.MODES, centroid, pooling)
    batched_s = time.perf_counter() - start
    jobs = list(interpret.perturbation_jobs(target, ids, interpret.MODES))
    pick = np.random.default_rng(0).choice(
        len(jobs), min(args.baseline_sentences, len(jobs)), replace=False)
    start = time.perf_counter()
    before = interpret.cosine_to(engine.embed(target, pooling), centroid)
    single = baseline(engine, [jobs[i] for i in pick], target, before,
                      centroid, pooling)
    single_s = (time.perf_counter() - start) * len(jobs) / len(pick)
    difference = np.abs(single - batched["after"].to_numpy()[pick]).max()

    n = len(jobs)
    print(f"{args.samples} samples x {len(genera)} genera x 3 modes = {n} "
          f"perturbed sentences (mean length "
          f"{target.lengths.mean():.0f} tokens), {args.threads} threads")
    print(f"batched (batch size {args.batch_size}): {batched_s:8.1f} s "
          f"{n / batched_s:8.1f} sentences/s")
    print(f"one pass per sentence (extrapolated from {len(pick)}): "
          f"{single_s:8.1f} s {n / single_s:8.1f} sentences/s")
    print(f"speed-up: {single_s / batched_s:.1f}x; largest difference in "
          f"cosine similarity: {difference:.2e}")


if __name__ == "__main__":
    main()
