"""Shared helpers for the benchmark scripts (run from the repository root)."""
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def timed(function, *args, repeat=3, **kwargs):
    """Best wall time of ``repeat`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gut_like_table(n_samples, seed=0, low=20, high=200):
    """A biom table of ``n_samples`` with 20-200 vocabulary genera each."""
    import biom
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    from q2_mgm.mgm.model import load_pretrained
    vocabulary = load_pretrained().vocabulary
    rng = np.random.default_rng(seed)
    pool = np.array(vocabulary.genus_tokens[:3000])
    n_genera = rng.integers(low, high + 1, n_samples)
    rows = np.concatenate([rng.choice(len(pool), k, replace=False)
                           for k in n_genera])
    cols = np.repeat(np.arange(n_samples), n_genera)
    counts = np.ceil(rng.lognormal(3, 2, len(rows)))
    matrix = sp.csr_matrix((counts, (rows, cols)),
                           shape=(len(pool), n_samples))
    features = [f"F{i}" for i in range(len(pool))]
    table = biom.Table(matrix, features, [f"S{j}" for j in range(n_samples)])
    taxonomy = pd.Series({f: f"k__Bacteria; {g}" for f, g in
                          zip(features, pool)})
    return table, taxonomy, vocabulary
