"""Peak memory of tokenizing and embedding many samples.

Runs the whole path (feature table -> sentences -> embeddings) on N
gut-like samples in a child process and on N/10 in another, and prints the
peak resident memory of each and their ratio: the engine streams
length-sorted batches and keeps only the pooled vectors, so memory should
grow with the table and the output, not with the hidden states.

    python bench/embedding_memory.py --samples 100000 [--low 20 --high 200]
"""
import argparse
import subprocess
import sys
import time

from _common import gut_like_table, peak_rss_mib


def child(n, low, high, batch_size):
    from q2_mgm.mgm.engine import Engine
    from q2_mgm.mgm.model import load_pretrained
    from q2_mgm.mgm.tokens import tokenize
    model = load_pretrained()
    table, taxonomy, vocabulary = gut_like_table(n, seed=11, low=low,
                                                 high=high)
    start = time.perf_counter()
    sentences, _ = tokenize(table, taxonomy, vocabulary)
    vectors = Engine(model, device="cpu", batch_size=batch_size).embed(
        sentences)
    seconds = time.perf_counter() - start
    print(f"{n}\t{peak_rss_mib():.0f}\t{seconds:.0f}\t{vectors.shape}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100000)
    parser.add_argument("--low", type=int, default=20)
    parser.add_argument("--high", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        return child(args.samples, args.low, args.high, args.batch_size)
    print(f"gut-like samples with {args.low}-{args.high} genera")
    print("samples\tpeak RSS MiB\tseconds\tembeddings")
    peaks = []
    for n in (args.samples // 10, args.samples):
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--samples", str(n),
             "--low", str(args.low), "--high", str(args.high),
             "--batch-size", str(args.batch_size)],
            check=True, capture_output=True, text=True).stdout.strip()
        print(out)
        peaks.append(float(out.split("\t")[1]))
    print(f"peak memory ratio for 10x the samples: {peaks[1] / peaks[0]:.2f}"
          f" ({peaks[1] / 1024:.2f} GiB at {args.samples} samples)")


if __name__ == "__main__":
    main()
