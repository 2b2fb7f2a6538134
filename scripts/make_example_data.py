"""Make the example data shipped in q2_mgm/example_data from ../shared.

A slice of the metagenomeSeq mouse data (139 samples, diet BK vs Western):
the features whose genus MGM knows plus the 200 most abundant others, so
the examples and `make demo` show real coverage; and a small MGM (2
layers, 32 dimensions) pre-trained from scratch on that slice with diet
labels, for the example of label-conditioned generation (small enough to
travel with a Galaxy tool test; the packaged MGM is 33 MB).

    python scripts/make_example_data.py [SHARED_DATA_DIR]
"""
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import biom
import pandas as pd
import qiime2
from transformers import GPT2Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import q2_mgm.plugin_setup  # noqa: E402,F401  (registers the types)
from q2_mgm.mgm.model import (MGMModel, build_network,  # noqa: E402
                              load_pretrained)
from q2_mgm.mgm.pretraining import pretrain_model  # noqa: E402
from q2_mgm.mgm.tokens import feature_genus_positions  # noqa: E402
from q2_mgm.mgm.training import PRETRAINING  # noqa: E402


def small_label_model(table, taxonomy, diet):
    """A 2-layer, 32-dimension MGM pre-trained from scratch on ``table``
    with one label token per diet."""
    packaged = load_pretrained()
    config = GPT2Config.from_dict(packaged.network.config.to_dict())
    config.update({"n_layer": 2, "n_head": 2, "n_embd": 32})
    start = MGMModel(build_network(config, "pretrained"),
                     packaged.vocabulary,
                     {"kind": "pretrained", "max_length": packaged.max_length,
                      "source": {"corpus": "q2-mgm example data (mouse "
                                           "diet), 2 layers, 32 dimensions"}})
    settings = replace(PRETRAINING, epochs=20, device="cpu", random_state=0)
    return pretrain_model(start, table, taxonomy, labels=diet,
                          from_scratch=True, settings=settings)


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
    diet = pd.read_csv(out / "mouse-metadata.tsv", sep="\t", index_col=0,
                       comment="#")["diet"]
    model = small_label_model(table, taxonomy["Taxon"], diet)
    qiime2.Artifact.import_data("MGMModel[Pretrained]", model).save(
        str(out / "mouse-diet-model.qza"))
    print(f"{table.shape[1]} samples, {table.shape[0]} features -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1
         else ROOT.parent / "shared" / "data")
