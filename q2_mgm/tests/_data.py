"""Small inputs for the tests, made from the example data in the package.

QIIME 2 is imported only by the helpers that make artifacts, so that the
library layer's tests (``make test-library``) run without it.
"""
import functools

import biom
import numpy as np
import pandas as pd

from ..mgm.model import load_pretrained


@functools.lru_cache(maxsize=None)
def pretrained():
    return load_pretrained()


def artifact(name):
    import qiime2
    from ..plugin.examples import example_path
    return qiime2.Artifact.load(example_path(name))


def example_table(n_samples=None):
    table = artifact("mouse-table.qza")
    if n_samples is None:
        return table
    view = table.view(biom.Table)
    keep = set(view.ids(axis="sample")[:n_samples])
    view = view.filter(keep, axis="sample", inplace=False)
    view = view.remove_empty(axis="observation", inplace=False)
    import qiime2
    return qiime2.Artifact.import_data("FeatureTable[Frequency]", view)


def example_taxonomy():
    return artifact("mouse-taxonomy.qza")


def example_metadata():
    import qiime2
    from ..plugin.examples import example_path
    return qiime2.Metadata.load(example_path("mouse-metadata.tsv"))


def table_of(counts, feature_ids, sample_ids):
    return biom.Table(np.asarray(counts, dtype=float), feature_ids,
                      sample_ids)


def taxonomy_of(mapping):
    return pd.Series(mapping, name="Taxon")
