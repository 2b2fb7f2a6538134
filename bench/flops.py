"""Achieved FLOP rate of the engine against the machine's matrix multiply.

The real samples of ../shared/data (six disease cohorts, mouse, global
patterns) are tokenized and grouped by sentence length. For each group the
engine's embedding, classifier logits and attention weights are timed and
their useful work counted: per sentence of n tokens, per layer,
24 n d^2 for the projections and 2 n^2 d for causal attention (padding
and the masked half of attention count as nothing). Each timing is paired
with a float32 2048 x 2048 matrix multiply timed right before and after in
the same process; the ratio of the two rates is the figure (absolute times
on shared machines are noise).

    .venv/bin/python bench/flops.py [--threads 2] [--repeat 3]
"""
import argparse
import time

import numpy as np
import torch

from _common import real_sentences
from q2_mgm.mgm import finetuning
from q2_mgm.mgm.engine import (TOKENS_PER_SAMPLE, Engine, length_batches,
                               set_threads)
from q2_mgm.mgm.model import MGMModel, load_pretrained

BUCKETS = ((3, 30), (30, 100), (100, 200), (200, 513))
MATRIX = 2048


def useful_flops(lengths, config):
    n = np.asarray(lengths, dtype=np.float64)
    d = config.n_embd
    return float(config.n_layer * (24 * n * d * d + 2 * n * n * d).sum())


def padding_efficiency(lengths, batch_size):
    """Real tokens / tokens computed in the engine's length-sorted
    batches."""
    padded = sum(len(batch) * lengths[batch].max()
                 for batch in length_batches(
                     lengths, batch_size,
                     max_tokens=batch_size * TOKENS_PER_SAMPLE))
    return lengths.sum() / padded


def matmul_rate():
    a = torch.randn(MATRIX, MATRIX)
    a @ a
    start = time.perf_counter()
    a @ a
    return 2 * MATRIX ** 3 / (time.perf_counter() - start)


def paired_ratio(run, flops, repeat):
    """Best ratio of the run's rate to the matrix-multiply rate measured
    around it."""
    run()
    ratios = []
    for _ in range(repeat):
        before = matmul_rate()
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        reference = max(before, matmul_rate())
        ratios.append(flops / seconds / reference)
    return max(ratios), reference


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1024,
                        help="at most this many sentences per length group")
    args = parser.parse_args()
    set_threads(args.threads)
    model = load_pretrained()
    names, sentences = real_sentences(model.vocabulary)
    network, _ = finetuning.sequence_network(model, ["a", "b"], 0)
    classifier = MGMModel(network, model.vocabulary, {"kind": "classifier"})
    engines = {name: Engine(m, device="cpu", batch_size=args.batch_size,
                            threads=args.threads)
               for name, m in (("embed", model), ("logits", classifier))}
    tasks = {
        "embedding": lambda s: engines["embed"].embed(s, "mean"),
        "logits": lambda s: engines["logits"].logits(s),
        "attention": lambda s: list(
            engines["embed"].attention_received(s))}
    rng = np.random.default_rng(0)
    lengths = sentences.lengths
    print(f"{len(sentences)} real samples ({', '.join(names)}), sentence "
          f"length median {np.median(lengths):.0f}, {args.threads} threads, "
          f"batch {args.batch_size}")
    print(f"{'tokens':<10}{'samples':>8}" + "".join(
        f"{task:>12}" for task in tasks) + f"{'real/padded':>13}"
        f"{'matmul GF/s':>13}")
    for low, high in BUCKETS:
        members = np.flatnonzero((lengths >= low) & (lengths < high))
        if len(members) > args.samples:
            members = np.sort(rng.choice(members, args.samples,
                                         replace=False))
        if not len(members):
            continue
        group = sentences.subset(members)
        flops = useful_flops(group.lengths, model.network.config)
        cells, reference = [], 0.0
        for task in tasks.values():
            ratio, reference = paired_ratio(lambda: task(group), flops,
                                            args.repeat)
            cells.append(f"{ratio:>11.0%} ")
        print(f"{f'{low}-{high - 1}':<10}{len(members):>8}" + "".join(cells)
              + f"{padding_efficiency(group.lengths, args.batch_size):>13.0%}"
              + f"{reference / 1e9:>13.0f}")
    print("Figures: achieved useful FLOP rate / float32 matrix-multiply "
          "rate of the same process.")


if __name__ == "__main__":
    main()
