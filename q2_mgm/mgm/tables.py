"""Feature tables read in chunks of samples, straight from their file.

A BIOM 2.1 file (HDF5) stores the table twice, once by feature and once by
sample (compressed sparse rows); the sample copy is read a slice of
samples at a time, so a table of a million samples never has to be in
memory at once.
"""
import biom
import h5py
import numpy as np
import scipy.sparse as sp

CHUNK = 20000  # samples per chunk


def whole_counts(counts):
    """Counts as integers where they are whole numbers (reads), else as
    they are (a table of fractional counts): a TSV then says 548, not
    548.0."""
    counts = np.asarray(counts)
    if counts.dtype.kind == "f" and np.isfinite(counts).all() \
            and (counts == np.round(counts)).all():
        return counts.astype(np.int64)
    return counts


def _names(dataset):
    return [i.decode() if isinstance(i, bytes) else str(i)
            for i in dataset]


def sample_ids(path):
    """The sample IDs of a BIOM 2.1 file, without its counts."""
    with h5py.File(path, "r") as f:
        return _names(f["sample/ids"][:])


def table_chunks(path, samples):
    """``biom.Table`` of each run of ``samples`` consecutive samples of a
    BIOM 2.1 file, every feature of the file in each."""
    with h5py.File(path, "r") as f:
        features = _names(f["observation/ids"][:])
        ids = f["sample/ids"]
        matrix = f["sample/matrix"]
        indptr = matrix["indptr"]
        if len(ids) == 0:
            yield biom.Table(np.zeros((len(features), 0)), features, [])
            return
        for first in range(0, len(ids), samples):
            last = min(len(ids), first + samples)
            rows = indptr[first:last + 1]
            span = slice(int(rows[0]), int(rows[-1]))
            counts = sp.csr_matrix(
                (matrix["data"][span], matrix["indices"][span],
                 rows - rows[0]), shape=(last - first, len(features)))
            yield biom.Table(counts.T.tocsr(), features,
                             _names(ids[first:last]))
