"""Embeddings, distances, coverage and bad input, through the Python API."""
import subprocess
import sys

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
import skbio
import torch
from qiime2.plugins.mgm.actions import (embed, embedding_distance,
                                        embedding_pcoa, summarize_coverage)

from ..mgm import tables
from ..mgm.engine import Engine, pool
from ..mgm.tokens import Sentences, tokenize
from ..mgm.vocabulary import BOS, EOS
from . import _data


@pytest.fixture(scope="module")
def small():
    return _data.example_table(12), _data.example_taxonomy()


def varied_sentences():
    vocabulary = _data.pretrained().vocabulary
    rng = np.random.default_rng(3)
    lengths = [3, 40, 12, 200, 25, 90, 510, 7]
    return Sentences.from_list(
        [f"S{i}" for i in range(len(lengths))],
        [[BOS, *rng.choice(vocabulary.genus_ids, n - 2, replace=False), EOS]
         for n in lengths])


@pytest.mark.parametrize("pooling", ["mean", "eos"])
def test_length_batches_equal_fixed_512_padding(pooling):
    model = _data.pretrained()
    sentences = varied_sentences()
    batched = Engine(model, device="cpu", batch_size=3).embed(
        sentences, pooling)
    ids = torch.as_tensor(sentences.padded(length=512))
    with torch.inference_mode():
        fixed = pool(model.network.transformer(input_ids=ids)
                     .last_hidden_state, ids, pooling).numpy()
    assert np.abs(batched - fixed).max() < 1e-5


def test_mean_pooling_matches_a_plain_forward_pass():
    model = _data.pretrained()
    sentences = varied_sentences()
    vectors = Engine(model, device="cpu", batch_size=4).embed(
        sentences, "mean")
    with torch.no_grad():
        ids = torch.tensor([list(sentences.sentence(1))])
        hidden = model.network(input_ids=ids, output_hidden_states=True
                               ).hidden_states[-1][0]
    assert np.abs(vectors[1] - hidden.mean(0).numpy()).max() < 1e-5


def test_embed_outputs_one_vector_per_sample(small):
    table, taxonomy = small
    embeddings, = embed(table=table, taxonomy=taxonomy, batch_size=5)
    df = embeddings.view(pd.DataFrame)
    assert df.shape == (12, 256)
    assert list(df.index) == list(table.view(biom.Table).ids())
    metadata = embeddings.view(qiime2.Metadata)
    assert metadata.column_count == 256
    again, = embed(table=table, taxonomy=taxonomy, batch_size=2)
    assert np.allclose(again.view(pd.DataFrame), df, atol=1e-5)


def test_embed_streams_the_table_in_chunks_of_samples(small, monkeypatch):
    """Chunk by chunk (5, 5 and 2 samples) equals one pass over the whole
    table: same samples, same order, same vectors."""
    table, taxonomy = small
    whole, = embed(table=table, taxonomy=taxonomy, device="cpu")
    monkeypatch.setattr(tables, "CHUNK", 5)
    chunked, = embed(table=table, taxonomy=taxonomy, device="cpu")
    whole, chunked = whole.view(pd.DataFrame), chunked.view(pd.DataFrame)
    assert list(chunked.index) == list(table.view(biom.Table).ids())
    assert np.abs(whole.to_numpy() - chunked.to_numpy()).max() < 1e-6
    engine = Engine(_data.pretrained(), device="cpu")
    sentences, _ = tokenize(table.view(biom.Table), taxonomy.view(pd.Series),
                            _data.pretrained().vocabulary)
    assert np.abs(engine.embed(sentences, "mean") - chunked.to_numpy()
                  ).max() < 1e-6


def test_distances_and_pcoa(small):
    table, taxonomy = small
    embeddings, = embed(table=table, taxonomy=taxonomy)
    distances, = embedding_distance(embeddings=embeddings)
    dm = distances.view(skbio.DistanceMatrix)
    assert dm.shape == (12, 12) and np.allclose(np.diag(dm.data), 0)
    vectors = embeddings.view(pd.DataFrame).to_numpy()
    cosine = vectors[0] @ vectors[1] / np.linalg.norm(vectors[0]) \
        / np.linalg.norm(vectors[1])
    assert dm.data[0, 1] == pytest.approx(1 - cosine, abs=1e-6)
    pcoa, = embedding_pcoa(embeddings=embeddings, number_of_dimensions=3)
    assert pcoa.view(skbio.OrdinationResults).samples.shape == (12, 3)


def test_coverage_visualization(small, tmp_path):
    table, taxonomy = small
    viz, = summarize_coverage(table=table, taxonomy=taxonomy)
    viz.export_data(tmp_path)
    html = (tmp_path / "index.html").read_text()
    assert "MGM vocabulary coverage" in html
    coverage = pd.read_csv(tmp_path / "per-sample-coverage.tsv", sep="\t",
                           index_col=0)
    assert len(coverage) == 12
    assert (coverage["mapped reads"] <= coverage["total reads"]).all()
    assert (coverage["sentence length"]
            == coverage["vocabulary genera"] + 2).all()
    unmapped = pd.read_csv(tmp_path / "unmapped-taxa.tsv", sep="\t")
    assert unmapped["reads"].is_monotonic_decreasing


def artifacts(counts, features, samples, taxonomy):
    table = qiime2.Artifact.import_data(
        "FeatureTable[Frequency]", _data.table_of(counts, features, samples))
    taxonomy = qiime2.Artifact.import_data(
        "FeatureData[Taxonomy]",
        pd.DataFrame({"Taxon": taxonomy}, index=pd.Index(
            list(taxonomy), name="Feature ID")).assign(
                Taxon=list(taxonomy.values())))
    return table, taxonomy


GOOD = "k__Bacteria; p__Bacteroidetes; f__Bacteroidaceae; g__Bacteroides"
UNKNOWN = "k__Bacteria; p__Firmicutes; f__Lachnospiraceae; g__"


@pytest.mark.parametrize("chunk", [tables.CHUNK, 1])
def test_sample_without_vocabulary_genus_is_named(chunk, monkeypatch):
    """Also when the unmapped sample is a chunk of its own."""
    monkeypatch.setattr(tables, "CHUNK", chunk)
    table, taxonomy = artifacts([[5, 0], [0, 7]], ["A", "B"], ["ok", "lost"],
                                {"A": GOOD, "B": UNKNOWN})
    with pytest.raises(ValueError, match="lost.*drop_unmapped"):
        embed(table=table, taxonomy=taxonomy)
    embeddings, = embed(table=table, taxonomy=taxonomy, drop_unmapped=True)
    assert list(embeddings.view(pd.DataFrame).index) == ["ok"]


def test_no_sample_with_vocabulary_genus():
    table, taxonomy = artifacts([[5, 3]], ["B"], ["s1", "s2"],
                                {"B": UNKNOWN})
    with pytest.raises(ValueError, match="No sample has a genus"):
        embed(table=table, taxonomy=taxonomy, drop_unmapped=True)


def test_taxonomy_must_cover_table():
    table, _ = artifacts([[5, 3], [1, 1]], ["A", "C"], ["s1", "s2"],
                         {"A": GOOD, "C": GOOD})
    _, taxonomy = artifacts([[5, 3]], ["A"], ["s1", "s2"], {"A": GOOD})
    with pytest.raises(ValueError, match="does not cover 1 .*C"):
        embed(table=table, taxonomy=taxonomy)


def test_empty_table():
    vocabulary = _data.pretrained().vocabulary
    empty = biom.Table(np.zeros((0, 0)), [], [])
    with pytest.raises(ValueError, match="empty"):
        tokenize(empty, pd.Series(dtype=str), vocabulary)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_or_nan_values(bad):
    vocabulary = _data.pretrained().vocabulary
    table = _data.table_of([[5.0, bad]], ["A"], ["s1", "s2"])
    with pytest.raises(ValueError, match="negative, infinite or NaN"):
        tokenize(table, pd.Series({"A": GOOD}), vocabulary)


@pytest.mark.parametrize("seed", range(5))
def test_every_sentence_holds_only_its_own_genera(seed):
    """Random finite tables with random zero patterns and scales."""
    vocabulary = _data.pretrained().vocabulary
    rng = np.random.default_rng(seed)
    n_features, n_samples = 300, 40
    genera = rng.choice(vocabulary.genus_tokens, n_features)
    counts = rng.random((n_features, n_samples)) * 10.0 ** rng.integers(
        -9, 9, size=(n_features, n_samples))
    counts[rng.random(counts.shape) < rng.random()] = 0
    counts[0] = 1.0  # every sample keeps a genus
    features = [f"F{i}" for i in range(n_features)]
    table = _data.table_of(counts, features,
                           [f"S{j}" for j in range(n_samples)])
    taxonomy = pd.Series({f: f"k__Bacteria; {g}"
                          for f, g in zip(features, genera)})
    sentences, _ = tokenize(table, taxonomy, vocabulary)
    for j in range(n_samples):
        tokens = sentences.sentence(j)
        present = {vocabulary.token_id(g) for g in genera[counts[:, j] > 0]}
        assert tokens[0] == BOS and tokens[-1] == EOS
        assert set(tokens[1:-1]) == present
        assert len(tokens) == len(present) + 2


def test_cuda_requested_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        Engine(_data.pretrained(), device="cuda")


@pytest.mark.slow
def test_command_line(tmp_path, small):
    table, taxonomy = small
    table.save(str(tmp_path / "table.qza"))
    taxonomy.save(str(tmp_path / "taxonomy.qza"))
    qiime = [sys.executable, "-m", "q2cli", "mgm"]
    subprocess.run(qiime + ["embed", "--i-table", str(tmp_path / "table.qza"),
                            "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                            "--p-batch-size", "4",
                            "--o-embeddings", str(tmp_path / "emb.qza")],
                   check=True, capture_output=True)
    emb = qiime2.Artifact.load(str(tmp_path / "emb.qza"))
    assert str(emb.type) == "SampleData[MGMEmbeddings]"
    subprocess.run(qiime + ["summarize-coverage",
                            "--i-table", str(tmp_path / "table.qza"),
                            "--i-taxonomy", str(tmp_path / "taxonomy.qza"),
                            "--o-visualization", str(tmp_path / "cov.qzv")],
                   check=True, capture_output=True)
    assert (tmp_path / "cov.qzv").is_file()


def test_collapse_genera_names_features_like_importance(small):
    from qiime2.plugins.mgm.actions import collapse_genera
    table, taxonomy = small
    collapsed, = collapse_genera(table=table, taxonomy=taxonomy)
    genera = collapsed.view(biom.Table)
    assert all(g.startswith("g__") for g in genera.ids(axis="observation"))
    assert list(genera.ids()) == list(table.view(biom.Table).ids())
    vocabulary = _data.pretrained().vocabulary
    sentences, _ = tokenize(table.view(biom.Table), taxonomy.view(pd.Series),
                            vocabulary)
    present = genera.matrix_data.getcol(0).nonzero()[0]
    assert len(present) == sentences.lengths[0] - 2


def test_threads_follow_galaxy_slots_and_cpu_affinity(monkeypatch):
    from ..mgm.engine import available_cores, set_threads
    monkeypatch.delenv("GALAXY_SLOTS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3, 5})
    assert available_cores() == 3
    monkeypatch.setenv("GALAXY_SLOTS", "2")
    assert available_cores() == 2
    before = torch.get_num_threads()
    try:
        set_threads(0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_threads_parameter_sets_the_thread_count(small):
    table, taxonomy = small
    before = torch.get_num_threads()
    try:
        embed(table, taxonomy, threads=1, device="cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
