"""Small inputs for the tests, made from the example data in the package."""
import functools

import biom
import numpy as np
import pandas as pd
import qiime2

from ..plugin.examples import example_path
from ..mgm.model import load_pretrained


@functools.lru_cache(maxsize=None)
def pretrained():
    return load_pretrained()


def artifact(name):
    return qiime2.Artifact.load(example_path(name))


def example_table(n_samples=None):
    table = artifact("mouse-table.qza")
    if n_samples is None:
        return table
    view = table.view(biom.Table)
    keep = set(view.ids(axis="sample")[:n_samples])
    view = view.filter(keep, axis="sample", inplace=False)
    view = view.remove_empty(axis="observation", inplace=False)
    return qiime2.Artifact.import_data("FeatureTable[Frequency]", view)


def example_taxonomy():
    return artifact("mouse-taxonomy.qza")


def example_metadata():
    return qiime2.Metadata.load(example_path("mouse-metadata.tsv"))


def table_of(counts, feature_ids, sample_ids):
    return biom.Table(np.asarray(counts, dtype=float), feature_ids,
                      sample_ids)


def taxonomy_of(mapping):
    return pd.Series(mapping, name="Taxon")
