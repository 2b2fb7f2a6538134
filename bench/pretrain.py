"""Pre-training throughput and memory: length padding versus fixed 512.

A 10,000-sample corpus is synthesized by resampling the real mouse samples
(each synthetic sample draws its reads from one real sample's composition).
q2-mgm's loop pads each batch to its longest sentence; the published code
pads every sentence to 512 tokens. Both run here, in one process, with the
same network and settings; the script prints samples/s, their ratio, the
corpus memory (tracemalloc) at 1,000 and 10,000 samples (the training
batches are built per step, so the rest does not grow with the corpus) and
the peak resident memory.

    .venv/bin/python bench/pretrain.py [--train-samples 10000]
        [--baseline-samples 50] [--data /work/shared/data]
"""
import argparse
import resource
import time
import tracemalloc
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import qiime2

from q2_mgm.mgm import model as mgm_model
from q2_mgm.mgm.engine import Engine
from q2_mgm.mgm.pretraining import build_corpus, language_model_loss
from q2_mgm.mgm.tokens import Sentences
from q2_mgm.mgm.training import TrainingSettings, train


class FixedPadding(Sentences):
    """Sentences padded to 512 tokens, as the published code does."""

    def padded(self, positions=None, length=None):
        return super().padded(positions, 512)


def resampled_table(table, n_samples, depth, seed=0):
    """``n_samples`` samples, each ``depth`` reads drawn from the
    composition of a randomly chosen real sample."""
    rng = np.random.default_rng(seed)
    matrix = table.matrix_data.toarray().T  # samples x features
    proportions = matrix / matrix.sum(1, keepdims=True)
    chosen = rng.integers(0, len(matrix), n_samples)
    counts = rng.multinomial(depth, proportions[chosen])
    keep = counts.sum(0) > 0
    return biom.Table(counts[:, keep].T,
                      table.ids(axis="observation")[keep],
                      [f"resampled-{i}" for i in range(n_samples)])


def corpus_memory(table, taxonomy, vocabulary):
    """Corpus and its peak allocation (bytes) while building it."""
    tracemalloc.start()
    corpus = build_corpus(table, taxonomy, vocabulary)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return corpus, peak


def samples_per_second(sentences, n, settings):
    engine = Engine(mgm_model.load_pretrained(), device=settings.device,
                    threads=settings.threads)
    start = time.perf_counter()
    train(engine, sentences, np.arange(n), np.array([], dtype=np.int64),
          language_model_loss, settings)
    return n / (time.perf_counter() - start)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--corpus-samples", type=int, default=10_000)
    parser.add_argument("--train-samples", type=int, default=10_000)
    parser.add_argument("--baseline-samples", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    data = Path(args.data)
    table = qiime2.Artifact.load(str(data / "mouse-table.qza")).view(
        biom.Table)
    taxonomy = qiime2.Artifact.load(
        str(data / "mouse-taxonomy.qza")).view(pd.Series)
    vocabulary = mgm_model.load_pretrained().vocabulary
    big = resampled_table(table, args.corpus_samples, depth=20_000)
    small = resampled_table(table, args.corpus_samples // 10, depth=20_000)
    _, small_bytes = corpus_memory(small, taxonomy, vocabulary)
    corpus, big_bytes = corpus_memory(big, taxonomy, vocabulary)
    print(f"peak RSS before training: {peak_rss_mib():.0f} MiB")
    sentences = corpus.sentences
    print(f"corpus: {len(sentences)} samples, mean sentence "
          f"{sentences.lengths.mean():.1f} tokens, longest "
          f"{sentences.lengths.max()}")
    print(f"corpus building peak (tracemalloc): {small_bytes / 2**20:.1f} "
          f"MiB for {len(small.ids())} samples, {big_bytes / 2**20:.1f} MiB "
          f"for {len(big.ids())} samples; sentences hold "
          f"{sentences.tokens.nbytes / 2**20:.2f} MiB")

    settings = TrainingSettings(epochs=1, batch_size=args.batch_size,
                                threads=args.threads, device="cpu")
    n_train = min(args.train_samples, len(sentences))
    ours = samples_per_second(sentences, n_train, settings)
    ours_rss = peak_rss_mib()
    print(f"length padding: {ours:.1f} samples/s over "
          f"{n_train} samples; peak RSS {ours_rss:.0f} MiB")
    fixed = FixedPadding(sentences.sample_ids, sentences.tokens,
                         sentences.offsets)
    baseline = samples_per_second(fixed, args.baseline_samples, settings)
    print(f"fixed 512 padding (published): {baseline:.2f} samples/s over "
          f"{args.baseline_samples} samples; peak RSS {peak_rss_mib():.0f} "
          "MiB")
    print(f"speed-up of length padding: {ours / baseline:.1f}x")


if __name__ == "__main__":
    main()
