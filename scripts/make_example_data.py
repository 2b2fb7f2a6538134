"""Make the example data shipped in q2_mgm/example_data from ../shared.

A slice of the metagenomeSeq mouse data (139 samples, diet BK vs Western):
the features whose genus MGM knows plus the 200 most abundant others, so
the examples and `make demo` show real coverage.

    python scripts/make_example_data.py [SHARED_DATA_DIR]
"""
import shutil
import sys
from pathlib import Path

import biom
import pandas as pd
import qiime2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from q2_mgm.model import load_pretrained  # noqa: E402
from q2_mgm.tokens import feature_genus_positions  # noqa: E402


def main(shared):
    out = ROOT / "q2_mgm" / "example_data"
    out.mkdir(exist_ok=True)
    table = qiime2.Artifact.load(shared / "mouse-table.qza").view(biom.Table)
    taxonomy = qiime2.Artifact.load(
        shared / "mouse-taxonomy.qza").view(pd.Series)
    ids = pd.Index(table.ids(axis="observation"))
    positions, _ = feature_genus_positions(ids, taxonomy, load_pretrained()
                                           .vocabulary)
    reads = pd.Series(table.sum(axis="observation"), index=ids)
    others = reads[positions < 0].sort_values(ascending=False).index[:200]
    keep = set(ids[positions >= 0]) | set(others)
    table = table.filter(lambda v, i, m: i in keep and v.sum() > 0,
                         axis="observation", inplace=False)
    kept = pd.Index(table.ids(axis="observation"))
    qiime2.Artifact.import_data("FeatureTable[Frequency]", table).save(
        str(out / "mouse-table.qza"))
    taxonomy = taxonomy.reindex(kept).to_frame("Taxon")
    taxonomy.index.name = "Feature ID"
    qiime2.Artifact.import_data("FeatureData[Taxonomy]", taxonomy).save(
        str(out / "mouse-taxonomy.qza"))
    shutil.copyfile(shared / "mouse-metadata.tsv", out / "mouse-metadata.tsv")
    print(f"{table.shape[1]} samples, {table.shape[0]} features -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1
         else ROOT.parent / "shared" / "data")
