"""Fine-tuning throughput: batches of similar length against random batches.

Gut-like samples of 20-400 genera (``_common.gut_like_table``), so
sentence lengths are mixed as in a cohort of 16S and shotgun samples.
Both runs train the same network on the same samples for the same epochs;
only the batching differs: shuffled groups of similar length (the engine's
rule, as the Hugging Face Trainer's ``group_by_length``) against random
batches padded to their longest sentence (the engine with groups of one
batch).

    .venv/bin/python bench/training.py [--samples 96] [--epochs 1]
"""
import argparse
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from _common import gut_like_table
from q2_mgm.mgm import engine as engine_module
from q2_mgm.mgm import finetuning
from q2_mgm.mgm import model as mgm_model
from q2_mgm.mgm.tokens import tokenize
from q2_mgm.mgm.training import FINE_TUNING


def run(sentences, labels, settings, megabatch):
    engine_module.MEGABATCH = megabatch
    start = time.perf_counter()
    _, record = finetuning.fine_tune(
        mgm_model.load_pretrained(), sentences, labels, settings,
        ["a", "b"], groups=None)
    seconds = time.perf_counter() - start
    return len(record["train"]) * len(record["history"]) / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    table, taxonomy, vocabulary = gut_like_table(args.samples, low=18,
                                                 high=398)
    sentences, _ = tokenize(table, taxonomy, vocabulary)
    labels = np.arange(args.samples) % 2
    settings = replace(FINE_TUNING, epochs=args.epochs, device="cpu",
                       validation_fraction=0.0, patience=args.epochs)
    default = engine_module.MEGABATCH
    lengths = pd.Series(sentences.lengths)
    print(f"{args.samples} sentences, lengths {lengths.min()}-"
          f"{lengths.max()} (median {lengths.median():.0f}), batch size "
          f"{settings.batch_size}, {args.epochs} epoch(s)")
    random = run(sentences, labels, settings, 1)
    grouped = run(sentences, labels, settings, default)
    print(f"random batches:          {random:6.1f} samples/s")
    print(f"similar-length batches:  {grouped:6.1f} samples/s")
    print(f"ratio: {grouped / random:.2f}x")


if __name__ == "__main__":
    main()
