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


def real_sentences(vocabulary):
    """Cohort names and the sentences of every real sample in
    ../shared/data (sample IDs prefixed with their cohort's number)."""
    import biom
    import pandas as pd
    import qiime2
    from q2_mgm.mgm.tokens import Sentences, tokenize
    names = [p.name[:-len("-table.qza")]
             for p in sorted(SHARED.glob("**/*-table.qza"))]
    parts = []
    for path in sorted(SHARED.glob("**/*-table.qza")):
        stem = str(path)[:-len("-table.qza")]
        table = qiime2.Artifact.load(str(path)).view(biom.Table)
        taxonomy = qiime2.Artifact.load(f"{stem}-taxonomy.qza") \
            .view(pd.Series)
        sentences, _ = tokenize(table, taxonomy, vocabulary,
                                drop_unmapped=True)
        parts.append(sentences)
    ids = [f"{i}:{s}" for i, part in enumerate(parts)
           for s in part.sample_ids]
    return names, Sentences.from_list(
        ids, [part.sentence(j) for part in parts for j in range(len(part))])
