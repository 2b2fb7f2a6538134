"""Each sample's label (class, group, subject) from a column of values."""
import pandas as pd

MISSING = ("error", "ignore")


def sample_labels(sample_ids, values, missing="ignore", name=None,
                  dtype=str):
    """The label (``dtype``: str, or float for numbers) of each sample in
    ``sample_ids`` that has one.

    ``values``: labels indexed by sample ID. Samples absent from it or with
    an empty value are left out (``missing='ignore'``) or an error naming
    them (``'error'``).
    """
    values = pd.Series(values)
    name = name or values.name
    sample_ids = pd.Index(sample_ids, name="sample-id")
    labels = values.reindex(sample_ids)
    absent = sample_ids.difference(values.index)
    empty = labels.index[labels.isna()].difference(absent)
    if missing == "error":
        for ids, problem in ((absent, "are not in the metadata"),
                             (empty, f"have no {name!r} value")):
            if len(ids):
                raise ValueError(
                    f"{len(ids)} sample(s) of the table {problem}: "
                    f"{', '.join(map(str, ids[:10]))}. Add them to the "
                    "metadata, remove them from the table, or set "
                    "missing_samples to 'ignore' to leave them out.")
    labels = labels.dropna().astype(dtype)
    labels.name = name
    if len(sample_ids) and labels.empty:
        raise ValueError(
            f"No sample of the table has a {name!r} value: the metadata "
            "and the table do not share sample IDs (table: "
            f"{', '.join(map(str, sample_ids[:3]))}; metadata: "
            f"{', '.join(map(str, values.index[:3])) or 'none'}). Use the "
            "metadata that belongs to this table, or fill in the column.")
    return labels
