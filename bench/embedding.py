"""Embedding speed: q2-mgm's engine vs fixed 512-token padding.

Gut-like samples (20-200 genera each). Baselines, in the same process:
  published-style: GPT2LMHeadModel on 512-padded batches with all hidden
    states requested (how embeddings are taken from the published model);
  fixed-512: our transformer-only forward on 512-padded batches.
q2-mgm sorts samples by length and pads each batch to its longest sample.
Prints samples/s, speed-ups and the largest difference between outputs.
"""
import argparse

import numpy as np
import torch

from _common import gut_like_table, timed
from q2_mgm.mgm.engine import Engine, pool, set_threads
from q2_mgm.mgm.model import load_pretrained
from q2_mgm.mgm.tokens import tokenize


def padded_512(sentences, batch_size, hidden_states):
    """Mean-pooled ``hidden_states(ids)`` of 512-padded batches."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(sentences), batch_size):
            ids = torch.as_tensor(sentences.padded(
                np.arange(start, min(start + batch_size, len(sentences))),
                length=512))
            out.append(pool(hidden_states(ids), ids, "mean").numpy())
    return np.concatenate(out)


def published_style(model, sentences, batch_size):
    """Mean of the last hidden state, 512-padded, LM head included."""
    return padded_512(sentences, batch_size, lambda ids: model.network(
        input_ids=ids, attention_mask=(ids != 0).long(),
        output_hidden_states=True).hidden_states[-1])


def fixed_512(engine, sentences, batch_size):
    """The engine's transformer-only pass on 512-padded batches."""
    return padded_512(sentences, batch_size, engine.hidden_states)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    set_threads(args.threads)
    model = load_pretrained()
    table, taxonomy, vocabulary = gut_like_table(args.samples, seed=7)
    sentences, _ = tokenize(table, taxonomy, vocabulary)
    engine = Engine(model, device="cpu", batch_size=args.batch_size,
                    threads=args.threads)
    ours_s, ours = timed(engine.embed, sentences, "mean", repeat=2)
    fixed_s, fixed = timed(fixed_512, engine, sentences, args.batch_size,
                           repeat=1)
    pub_s, pub = timed(published_style, model, sentences, args.batch_size,
                       repeat=1)
    n = len(sentences)
    print(f"{n} samples, sentence length {sentences.lengths.min()}-"
          f"{sentences.lengths.max()} (mean {sentences.lengths.mean():.0f}),"
          f" batch {args.batch_size}, {args.threads} threads")
    print(f"{'method':<18} {'samples/s':>10} {'q2-mgm speed-up':>16} "
          f"{'max |diff|':>11}")
    for name, seconds, vectors in (("published-style", pub_s, pub),
                                   ("fixed-512", fixed_s, fixed),
                                   ("q2-mgm", ours_s, ours)):
        print(f"{name:<18} {n / seconds:>10.1f} {seconds / ours_s:>15.1f}x "
              f"{np.abs(vectors - ours).max():>11.2e}")


if __name__ == "__main__":
    main()
