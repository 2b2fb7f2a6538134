"""Peak memory of `qiime mgm embed` (or `attention-importance`, `perturb`,
`leave-one-genus-out`) on a large table: they stream.

Writes a table of N gut-like samples (BIOM 2.1 file, imported as a
FeatureTable[Frequency] artifact) and its taxonomy, then runs the action
through QIIME 2's Python API on it in a fresh process, once on N/10
samples and once on N, and prints the peak resident memory of each and
their ratio. The actions read and tokenize a chunk of samples at a time;
embed writes the vectors as they come, attention-importance keeps running
sums per genus, perturb (half the samples in each of two groups, the
default 20 genera) and leave-one-genus-out (the default 50 genera) keep
about 17 bytes per perturbed sample, so the peak should grow with the
perturbations, not with the table.

    .venv/bin/python bench/embedding_memory.py --samples 1000000 \
        [--low 5 --high 20] [--action attention-importance]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from _common import gut_like_table, peak_rss_mib


def write_inputs(n, low, high, folder):
    """table.qza and taxonomy.qza of n gut-like samples in ``folder``."""
    import qiime2
    table, taxonomy, _ = gut_like_table(n, seed=11, low=low, high=high)
    biom_path = Path(folder) / "table.biom"
    import h5py
    with h5py.File(biom_path, "w") as f:
        table.to_hdf5(f, "bench")
    del table
    qiime2.Artifact.import_data("FeatureTable[Frequency]", str(biom_path),
                                "BIOMV210Format").save(
                                    f"{folder}/table.qza")
    taxonomy = taxonomy.rename("Taxon").rename_axis("Feature ID")
    qiime2.Artifact.import_data("FeatureData[Taxonomy]", taxonomy).save(
        f"{folder}/taxonomy.qza")


def run_action(folder, action, batch_size):
    import qiime2
    from qiime2.plugins.mgm import actions
    table = qiime2.Artifact.load(f"{folder}/table.qza")
    taxonomy = qiime2.Artifact.load(f"{folder}/taxonomy.qza")
    extra = {}
    if action == "perturb":
        from q2_mgm.mgm.tables import sample_ids
        ids = pd.Index(sample_ids(f"{folder}/table.biom"), name="sample-id")
        extra = dict(metadata=qiime2.CategoricalMetadataColumn(pd.Series(
            ["reference", "target"] * (len(ids) // 2) + ["reference"]
            * (len(ids) % 2), index=ids, name="group")),
            reference_group="reference", target_group="target")
    start = time.perf_counter()
    result = getattr(actions, action.replace("-", "_"))(
        table=table, taxonomy=taxonomy, device="cpu", batch_size=batch_size,
        **extra)[0]
    seconds = time.perf_counter() - start
    if action == "embed":
        from q2_mgm.plugin.formats import EmbeddingsFormat
        rows = sum(1 for _ in open(str(result.view(EmbeddingsFormat)))) - 1
    else:
        rows = len(result.view(pd.DataFrame))
    print(f"{rows}\t{peak_rss_mib():.0f}\t{seconds:.0f}")


def child(*args):
    return subprocess.run([sys.executable, __file__, *map(str, args)],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100000)
    parser.add_argument("--low", type=int, default=20)
    parser.add_argument("--high", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--action", default="embed",
                        choices=["embed", "attention-importance", "perturb",
                                 "leave-one-genus-out"])
    parser.add_argument("--write", metavar="FOLDER")
    parser.add_argument("--run", metavar="FOLDER")
    args = parser.parse_args()
    if args.write:
        return write_inputs(args.samples, args.low, args.high, args.write)
    if args.run:
        return run_action(args.run, args.action, args.batch_size)
    print(f"gut-like samples with {args.low}-{args.high} genera; "
          f"qiime2.plugins.mgm.actions.{args.action.replace('-', '_')} in a "
          "fresh process")
    rows = {"embed": "vectors", "perturb": "effects"}.get(args.action,
                                                          "genera")
    print(f"{rows}\tpeak RSS MiB\tseconds")
    peaks = []
    for n in (args.samples // 10, args.samples):
        with tempfile.TemporaryDirectory() as folder:
            child("--write", folder, "--samples", n, "--low", args.low,
                  "--high", args.high)
            out = child("--run", folder, "--action", args.action,
                        "--batch-size", args.batch_size)
        print(out, flush=True)
        peaks.append(float(out.split("\t")[1]))
    print(f"peak memory ratio for 10x the samples: {peaks[1] / peaks[0]:.2f}"
          f" ({peaks[1] / 1024:.2f} GiB at {args.samples} samples)")


if __name__ == "__main__":
    main()
