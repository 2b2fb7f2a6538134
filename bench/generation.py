"""Continued pre-training and diet-conditioned generation on the mouse data.

1. Mice are split into training and held-out mice (no mouse in both).
2. The published MGM is pre-trained further on the training mice, with the
   `diet` column (BK, Western) as label tokens, for 20 epochs. No
   validation split by default: with 104 samples a 10-sample validation
   set stops training (epoch 5) before the model uses the labels; the
   held-out mice are the real test.
3. Held-out next-genus loss (mean cross-entropy per genus) before and after.
4. Samples are generated for each diet; the genus prevalence of each
   generated diet is correlated (Spearman, Pearson) with that of the real
   samples of each diet: the same diet should correlate best. A random
   forest's cross-validated ROC-AUC says how well it tells real from
   generated samples of a diet (0.5: indistinguishable).

    .venv/bin/python bench/generation.py [--data /work/shared/data]
        [--epochs 20] [--validation-fraction 0] [--n-samples 100]
        [--top-k 50,0]
"""
import argparse
import time
from pathlib import Path

import biom
import pandas as pd
import qiime2

from q2_mgm.mgm import model as mgm_model
from q2_mgm.mgm.generation import Sampling, generate_samples
from q2_mgm.mgm.pretraining import corpus_loss, pretrain_model
from q2_mgm.mgm.realism import genus_presence, summary_tables
from q2_mgm.mgm.training import TrainingSettings

HELD_OUT_MICE = ("PM3", "PM10", "PM12")


def load(data):
    table = qiime2.Artifact.load(str(data / "mouse-table.qza")).view(
        biom.Table)
    taxonomy = qiime2.Artifact.load(
        str(data / "mouse-taxonomy.qza")).view(pd.Series)
    metadata = qiime2.Metadata.load(
        str(data / "mouse-metadata.tsv")).to_dataframe()
    return table, taxonomy, metadata.reindex(table.ids())


def split(table, metadata):
    held = metadata["mouseID"].isin(HELD_OUT_MICE)
    return (table.filter(metadata.index[~held], inplace=False),
            table.filter(metadata.index[held], inplace=False))


def correlations_against(real_table, taxonomy, diet, generated, labels):
    vocabulary = mgm_model.load_pretrained().vocabulary
    real = genus_presence(real_table, taxonomy, vocabulary)
    fake = genus_presence(*generated[:2], vocabulary)
    return summary_tables(real, diet.reindex(real.index).dropna(), fake,
                          labels, 0, vocabulary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/data")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--validation-fraction", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-samples", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--top-k", default="50,0",
                        help="top-k values to compare (0: no cut-off)")
    args = parser.parse_args()

    table, taxonomy, metadata = load(Path(args.data))
    diet = metadata["diet"].astype(str)
    train_table, held_table = split(table, metadata)
    print(f"{train_table.shape[1]} training samples, {held_table.shape[1]} "
          f"held-out samples (mice {', '.join(HELD_OUT_MICE)})")

    start = mgm_model.load_pretrained()
    before = corpus_loss(start, held_table, taxonomy, device="cpu")
    began = time.perf_counter()
    settings = TrainingSettings(
        epochs=args.epochs, batch_size=args.batch_size,
        validation_fraction=args.validation_fraction, threads=args.threads,
        device="cpu")
    trained = pretrain_model(start, train_table, taxonomy, diet,
                             settings=settings)
    seconds = time.perf_counter() - began
    after = corpus_loss(trained, held_table, taxonomy, diet, device="cpu")
    print(f"held-out next-genus loss: published MGM {before:.3f}, after "
          f"continued pre-training {after:.3f} "
          f"(ratio {after / before:.2f}; {seconds:.0f} s, "
          f"{len(trained.manifest['history'])} epochs)")

    for top_k in map(int, args.top_k.split(",")):
        print(f"\n=== top-k {top_k or 'off'} ===")
        generated = generate_samples(
            trained, args.n_samples, ["BK", "Western"],
            Sampling(top_k=top_k, device="cpu", threads=args.threads))
        compare(generated, table, held_table, taxonomy, diet)


def compare(generated, table, held_table, taxonomy, diet):
    labels = generated[2]
    for name, real in (("all real samples", table),
                       ("held-out real samples", held_table)):
        correlations, richness, realism = correlations_against(
            real, taxonomy, diet, generated, labels)
        print(f"\nGenus prevalence correlation, generated vs {name}:")
        print(correlations.to_string(index=False, float_format="%.3f"))
        same = correlations[correlations["generated label"]
                            == correlations["real label"]]
        other = correlations[correlations["generated label"]
                             != correlations["real label"]]
        wins = all(
            (same.set_index("generated label")[metric]
             > other.set_index("generated label")[metric]).all()
            for metric in ("Spearman", "Pearson"))
        print(f"same diet correlates better than the other diet: {wins}")
        print("mean genera of the MGM vocabulary per sample:")
        print(richness.groupby(["label", "source"])["MGM genera"].mean()
              .unstack().to_string(float_format="%.1f"))
        print(realism.to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
