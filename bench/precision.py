"""Lower precision: speed and deviation from float32, on real samples.

Embeds real samples of ../shared/data (random, at most ``--samples``) at
each precision the device offers (CPU: int8, bfloat16; CUDA: bfloat16,
float16), alternating with float32 runs in the same process, and prints
each precision's speed relative to float32 and its worst and median cosine
deviation (1 - cosine similarity to the float32 vector).

    .venv/bin/python bench/precision.py [--device cpu] [--samples 512]
"""
import argparse
import time

import numpy as np

from _common import real_sentences
from q2_mgm.mgm.engine import Engine, resolve_device
from q2_mgm.mgm.model import load_pretrained

LOWER = {"cpu": ("int8", "bfloat16"), "cuda": ("bfloat16", "float16")}


def seconds(engine, sentences):
    start = time.perf_counter()
    vectors = engine.embed(sentences, "mean")
    return time.perf_counter() - start, vectors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = load_pretrained()
    _, sentences = real_sentences(model.vocabulary)
    rng = np.random.default_rng(0)
    sentences = sentences.subset(np.sort(rng.choice(
        len(sentences), min(args.samples, len(sentences)), replace=False)))
    engines = {p: Engine(model, device=args.device, threads=args.threads,
                         batch_size=args.batch_size, precision=p)
               for p in ("float32",) + LOWER[device.type]}
    warm = sentences.subset(np.arange(8))
    for engine in engines.values():
        engine.embed(warm, "mean")
    print(f"{len(sentences)} real samples (length median "
          f"{np.median(sentences.lengths):.0f}, max "
          f"{sentences.lengths.max()}), {device}, batch {args.batch_size}")
    print(f"{'precision':<10}{'speed vs float32':>18}{'worst 1-cos':>13}"
          f"{'median 1-cos':>14}")
    for precision in LOWER[device.type]:
        ratios = []
        for _ in range(args.repeat):
            exact_s, exact = seconds(engines["float32"], sentences)
            lowered_s, lowered = seconds(engines[precision], sentences)
            ratios.append(exact_s / lowered_s)
        deviation = 1 - (exact * lowered).sum(1) / (
            np.linalg.norm(exact, axis=1) * np.linalg.norm(lowered, axis=1))
        print(f"{precision:<10}{max(ratios):>17.2f}x{deviation.max():>13.1e}"
              f"{np.median(deviation):>14.1e}")


if __name__ == "__main__":
    main()
