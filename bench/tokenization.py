"""Tokenization speed: vectorised q2-mgm vs a per-sample pandas loop.

The baseline re-implements the published `construct` pre-processing one
sample at a time (q2_mgm/tests/reference.py) and starts from the genus table,
so it does less work than q2-mgm, which starts from the feature table and
taxonomy (with a cold genus-name cache on every run). Prints samples/s and
the speed-up of the whole q2-mgm path, and of its ranking step alone on the
same genus table as the loop; checks that the sentences are identical.
"""
import biom
import numpy as np
import pandas as pd
import qiime2

from _common import SHARED, gut_like_table, timed
from q2_mgm.mgm.model import load_pretrained
from q2_mgm.tests.reference import genus_frame, published_sentences
from q2_mgm.tokens import genus_table, rank_sentences, tokenize


def cold_tokenize(table, taxonomy, vocabulary):
    vocabulary.__dict__.pop("_name_cache", None)
    return tokenize(table, taxonomy, vocabulary, drop_unmapped=True)


def compare(name, table, taxonomy, vocabulary):
    ours_s, (sentences, _) = timed(cold_tokenize, table, taxonomy,
                                   vocabulary)
    genera = genus_table(table, taxonomy, vocabulary)
    rank_s, _ = timed(rank_sentences, genera, vocabulary)
    base_s, expected = timed(published_sentences,
                             genus_frame(genera, vocabulary), vocabulary,
                             repeat=1)
    same = all(list(sentences.sentence(i))[:-1] == expected[s][:len(
        sentences.sentence(i)) - 1] for i, s in
        enumerate(sentences.sample_ids))
    n = len(sentences)
    print(f"{name:<26} {n:>7} {n / base_s:>10.0f} {n / ours_s:>10.0f} "
          f"{base_s / ours_s:>8.0f}x {base_s / rank_s:>8.0f}x  "
          f"identical={same}")


def replicate(table, times):
    tables = [table.update_ids({s: f"{s}.{k}" for s in table.ids()},
                               inplace=False) for k in range(times)]
    return tables[0].concat(tables[1:]) if times > 1 else table


def main():
    vocabulary = load_pretrained().vocabulary
    print(f"{'data':<26} {'samples':>7} {'loop/s':>10} {'q2-mgm/s':>10} "
          f"{'whole':>9} {'ranking':>9}")
    table, taxonomy, _ = gut_like_table(10000)
    compare("gut-like, 20-200 genera", table, taxonomy, vocabulary)
    for name, times in (("mouse", 20), ("globalpatterns", 40)):
        if not (SHARED / f"{name}-table.qza").exists():
            continue
        table = qiime2.Artifact.load(
            str(SHARED / f"{name}-table.qza")).view(biom.Table)
        taxonomy = qiime2.Artifact.load(
            str(SHARED / f"{name}-taxonomy.qza")).view(pd.Series)
        compare(f"{name} x{times}", replicate(table, times), taxonomy,
                vocabulary)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
