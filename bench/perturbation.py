"""In-silico perturbation: prefix reuse against the batched path it replaced.

200 real samples of ../shared/data (random, of the six disease cohorts,
mouse and global patterns) are perturbed for every genus they hold, in each
mode (enrich, reduce, delete), towards the mean embedding of the other real
samples. Two paths run in the same process on the same screen:
  batched: every perturbed sentence embedded whole in length-sorted batches
    (the path `qiime mgm perturb` used before prefix reuse);
  prefix reuse: what `qiime mgm perturb` runs now (the genera before the
    perturbed one are computed once per sample, as keys and values).
Prints, per mode, sentences/s of both, the speed-up and the largest
difference in cosine similarity.

    .venv/bin/python bench/perturbation.py [--samples 200]
"""
import argparse
import time

import numpy as np

from _common import real_sentences
from q2_mgm.mgm import interpretation as interpret
from q2_mgm.mgm.engine import Engine
from q2_mgm.mgm.model import load_pretrained
from q2_mgm.mgm.tokens import Sentences


def batched(engine, target, genus_ids, mode, centroid, pooling):
    """Cosine to ``centroid`` after each perturbation, every perturbed
    sentence embedded whole."""
    before = engine.embed(target, pooling)
    jobs = list(interpret.perturbation_jobs(target, genus_ids, [mode]))
    after = before[[job[0] for job in jobs]]
    changed = [i for i, job in enumerate(jobs)
               if not np.array_equal(job[3], target.sentence(job[0]))]
    after[changed] = engine.embed(Sentences.from_list(
        changed, [jobs[i][3] for i in changed]), pooling)
    return interpret.cosine_to(after, centroid)


def reused(engine, target, genus_ids, mode, centroid, pooling):
    """Cosine to ``centroid`` after each perturbation, by prefix reuse (the
    path of `qiime mgm perturb`)."""
    return np.concatenate([
        interpret.cosine_to(after, centroid)
        for _, _, after in interpret.perturbed_embeddings(
            engine, target, genus_ids, [mode], pooling)])


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    model = load_pretrained()
    _, sentences = real_sentences(model.vocabulary)
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(sentences), args.samples, replace=False)
    target = sentences.subset(np.sort(chosen))
    reference = sentences.subset(np.setdiff1d(np.arange(len(sentences)),
                                              chosen))
    engine = Engine(model, device="cpu", batch_size=args.batch_size,
                    threads=args.threads)
    pooling = model.default_pooling
    centroid = engine.embed(reference, pooling).mean(0)
    genus_ids = [model.vocabulary.token_id(g) for g in
                 interpret.target_prevalence(target, model.vocabulary).index]
    print(f"{args.samples} real samples, {len(genus_ids)} genera, sentence "
          f"length mean {target.lengths.mean():.0f} (max "
          f"{target.lengths.max()}), {args.threads} threads, batch "
          f"{args.batch_size}")
    warm = target.subset(np.arange(5))
    for mode in interpret.MODES:  # first calls pay one-time set-up costs
        batched(engine, warm, genus_ids, mode, centroid, pooling)
        reused(engine, warm, genus_ids, mode, centroid, pooling)
    print(f"{'mode':<8}{'sentences':>10}{'batched/s':>11}{'reuse/s':>9}"
          f"{'speed-up':>10}{'max |diff|':>12}")
    for mode in interpret.MODES:
        old_s, old = timed(lambda: batched(engine, target, genus_ids, mode,
                                           centroid, pooling))
        new_s, new = timed(lambda: reused(engine, target, genus_ids, mode,
                                          centroid, pooling))
        n = len(old)
        difference = np.abs(old - new).max()
        print(f"{mode:<8}{n:>10}{n / old_s:>11.1f}{n / new_s:>9.1f}"
              f"{old_s / new_s:>9.2f}x{difference:>12.2e}")


if __name__ == "__main__":
    main()
