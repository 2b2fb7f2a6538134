"""A per-sample pandas re-implementation of the published pre-processing.

Used as ground truth in the tests and as the baseline in bench/: genus table
-> keep vocabulary genera -> drop all-zero samples -> relative abundance over
those genera -> standardize with the corpus mean and std -> keep present
genera -> sort descending -> <bos> ... <eos> -> first 512 tokens.
"""
import re

import pandas as pd

from ..mgm.tokens import MAX_LENGTH
from ..mgm.vocabulary import BOS, EOS


def genus_frame(genera, vocabulary):
    """Dense samples x genus-token DataFrame of a tokens.GenusTable."""
    names = [vocabulary.genus_tokens[p] for p in genera.genus_positions]
    return pd.DataFrame(genera.counts.toarray(), index=genera.sample_ids,
                        columns=names)


def published_sentences(frame, vocabulary, max_length=MAX_LENGTH):
    """Sentences of a genus-level DataFrame, one sample at a time."""
    stats = pd.DataFrame({"mean": vocabulary.mean, "std": vocabulary.std},
                         index=vocabulary.genus_tokens)
    data = frame.reindex(columns=stats.index, fill_value=0).astype(float)
    data = data.loc[(data != 0).any(axis=1)]
    data = data.div(data.sum(axis=1), axis=0)
    zero = (0 - stats["mean"]) / stats["std"]
    data = (data - stats["mean"]) / stats["std"]
    ids = {token: i for i, token in enumerate(vocabulary.tokens)}
    sentences = {}
    for sample in data.index:
        row = data.loc[sample]
        row = row[row > zero].sort_values(ascending=False, kind="stable")
        tokens = [BOS] + [ids[g] for g in row.index] + [EOS]
        sentences[sample] = tokens[:max_length]
    return sentences


def published_genus(lineage, vocabulary):
    """The genus token the published name pattern finds in a lineage (the
    first ``g__`` followed by letters, digits or ``_``), or None."""
    found = re.search(r"g__[A-Za-z0-9_]+", lineage)
    return found.group(0) if found and found.group(0) in set(
        vocabulary.genus_tokens) else None
