"""Continued pre-training, label-conditioned generation and its summary."""
import subprocess
import sys

import biom
import numpy as np
import pandas as pd
import pytest
import qiime2
import torch
from qiime2.plugins.mgm.actions import (generate, generation_summary,
                                        pretrain)
from transformers import GPT2Config

from ..mgm import generation
from ..mgm import pretraining
from ..mgm.model import MGMModel, build_network
from ..mgm.tokens import Sentences, genus_table, tokenize
from ..mgm.training import TrainingSettings
from ..mgm.vocabulary import BOS, EOS, label_token
from . import _data

TRAIN_MICE = ("PM5", "PM8")
HELD_OUT_MICE = ("PM10", "PM12")


def mice_table(mice):
    metadata = _data.example_metadata().to_dataframe()
    keep = set(metadata.index[metadata["mouseID"].isin(mice)])
    view = _data.example_table().view(biom.Table)
    view = view.filter(keep, axis="sample", inplace=False)
    return view.remove_empty(axis="observation", inplace=False)


def diet_column():
    return _data.example_metadata().get_column("diet")


@pytest.fixture(scope="module")
def taxonomy():
    return _data.example_taxonomy()


@pytest.fixture(scope="module")
def diet_model(taxonomy):
    table = qiime2.Artifact.import_data("FeatureTable[Frequency]",
                                        mice_table(TRAIN_MICE))
    model, = pretrain(table=table, taxonomy=taxonomy, metadata=diet_column(),
                      epochs=2, batch_size=8, random_state=1)
    return model


def test_pretrain_records_labels_and_rank_profile(diet_model):
    model = diet_model.view(MGMModel)
    assert model.kind == "pretrained"
    assert model.manifest["label_tokens"] == {
        "BK": label_token("BK"), "Western": label_token("Western")}
    assert set(model.vocabulary.label_tokens) == {"<label:BK>",
                                                  "<label:Western>"}
    assert model.network.get_input_embeddings().num_embeddings == len(
        model.vocabulary)
    profile = np.array(model.manifest["rank_abundance"])
    assert len(profile) == 510 and (profile > 0).all()
    assert [r["epoch"] for r in model.manifest["history"]] == [1, 2]


def test_pretrain_is_deterministic(taxonomy):
    table = mice_table(("PM9",))
    labels = diet_column().to_series()

    def weights():
        model = pretraining.pretrain_model(
            _data.pretrained(), table, taxonomy.view(pd.Series), labels,
            settings=TrainingSettings(epochs=1, batch_size=5, random_state=2,
                                      device="cpu"))
        return model.network.state_dict()
    first, second = weights(), weights()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_continued_pretraining_lowers_held_out_loss(diet_model, taxonomy):
    held_out = mice_table(HELD_OUT_MICE)
    lineages = taxonomy.view(pd.Series)
    labels = diet_column().to_series()
    before = pretraining.corpus_loss(_data.pretrained(), held_out, lineages)
    after = pretraining.corpus_loss(diet_model.view(MGMModel), held_out,
                                    lineages, labels)
    assert after < before


def test_label_token_follows_bos():
    sentences = Sentences.from_list(["a", "b", "c"],
                                    [[BOS, 10, 11, EOS], [BOS, 12, EOS],
                                     [BOS, 13, EOS]])
    labelled = pretraining.insert_after_bos(sentences, [7, -1, 8])
    assert [list(labelled.sentence(i)) for i in range(3)] == [
        [BOS, 7, 10, 11, EOS], [BOS, 12, EOS], [BOS, 8, 13, EOS]]


def test_extend_vocabulary_adds_unknown_genera_with_their_stats(taxonomy):
    vocabulary = _data.pretrained().vocabulary
    table, lineages = mice_table(TRAIN_MICE), taxonomy.view(pd.Series)
    corpus = pretraining.build_corpus(table, lineages, vocabulary,
                                      extend_vocabulary=True)
    added = corpus.vocabulary.genus_tokens[len(vocabulary.genus_tokens):]
    assert "g__Bryantella" in added
    assert (corpus.vocabulary.std[-len(added):] > 0).all()
    unmapped = genus_table(table, lineages, corpus.vocabulary).unmapped
    assert not any("Bryantella" in lineage for lineage in unmapped.index)


def test_rank_abundance_is_mean_abundance_by_rank():
    vocabulary = _data.pretrained().vocabulary
    genera = vocabulary.genus_tokens[:3]
    table = _data.table_of([[60, 10], [30, 90], [10, 0]], genera, ["x", "y"])
    lineages = _data.taxonomy_of({g: g for g in genera})
    corpus = pretraining.build_corpus(table, lineages, vocabulary)
    ranked = [corpus.sentences.sentence(i)[1:-1] for i in range(2)]
    expected_first = np.mean([table.get_value_by_ids(
        vocabulary.tokens[s[0]], sid) / 100 for s, sid in zip(ranked, "xy")])
    assert corpus.rank_abundance[0] == pytest.approx(expected_first)


def test_from_scratch_is_seeded_and_fresh():
    model = _data.pretrained()
    config = GPT2Config.from_dict(model.network.config.to_dict())
    first = pretraining.starting_network(model, model.vocabulary, True, 3)
    second = pretraining.starting_network(model, model.vocabulary, True, 3)
    weight = "transformer.h.0.mlp.c_fc.weight"
    assert torch.equal(first.state_dict()[weight],
                       second.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight],
                           model.network.state_dict()[weight])
    assert first.config.n_layer == config.n_layer


def test_empty_corpus_is_an_error():
    vocabulary = _data.pretrained().vocabulary
    table = _data.table_of([[5, 3]], ["f1"], ["s1", "s2"])
    lineages = _data.taxonomy_of({"f1": "k__Bacteria; g__uncultured"})
    with pytest.raises(ValueError, match="corpus is empty"):
        pretraining.build_corpus(table, lineages, vocabulary)


def test_generate_by_label(diet_model):
    table, taxonomy, labels = generate(
        model=diet_model, n_samples=3, labels=["BK", "Western"],
        max_length=16, random_state=4)
    table = table.view(biom.Table)
    assert table.shape[1] == 6
    np.testing.assert_allclose(table.sum(axis="sample"), 1.0)
    assert set(taxonomy.view(pd.Series).index) == set(
        table.ids(axis="observation"))
    metadata = labels.view(qiime2.Metadata).to_dataframe()
    assert metadata["label"].tolist() == ["BK"] * 3 + ["Western"] * 3
    assert list(metadata.index) == list(table.ids())


def test_generation_is_deterministic(diet_model):
    model = diet_model.view(MGMModel)

    def sampled(seed):
        sampling = generation.Sampling(max_length=12, random_state=seed)
        table, _, _ = generation.generate_samples(model, 3, ["Western"],
                                                  sampling)
        return table
    assert sampled(5) == sampled(5)
    assert sampled(5) != sampled(6)


def test_sampled_sentences_follow_the_rules():
    model = _data.pretrained()
    prefixes, names = generation.label_prefixes(model, None, 4)
    sentences = generation.sample_sentences(
        model, prefixes, generation.Sampling(max_length=10, top_k=50,
                                             top_p=0.9, device="cpu"))
    genus_ids = set(model.vocabulary.genus_ids)
    for sentence in sentences:
        assert 1 <= len(sentence) <= 8
        assert len(set(sentence)) == len(sentence)
        assert set(sentence) <= genus_ids
    assert names == ["unconditioned"] * 4


def test_generation_errors(diet_model):
    with pytest.raises(ValueError, match="not labels of this model.*none"):
        generation.generate_samples(_data.pretrained(), 2, ["BK"])
    with pytest.raises(ValueError, match=r"'Keto'.*'BK', 'Western'"):
        generate(model=diet_model, n_samples=2, labels=["Keto"])
    with pytest.raises(ValueError, match="max_length must be between 4"):
        generate(model=diet_model, n_samples=2, labels=["BK"], max_length=3)
    packaged = _data.pretrained()
    config = GPT2Config.from_dict({**packaged.network.config.to_dict(),
                                   "num_labels": 2})
    classifier = MGMModel(build_network(config, "classifier"),
                          packaged.vocabulary,
                          {"kind": "classifier", "labels": ["a", "b"]})
    with pytest.raises(ValueError, match="classifier cannot generate"):
        generation.generate_samples(classifier, 2)


def test_generation_summary(diet_model, taxonomy, tmp_path):
    g_table, g_taxonomy, g_labels = generate(
        model=diet_model, n_samples=4, labels=["BK", "Western"],
        max_length=24)
    real = qiime2.Artifact.import_data("FeatureTable[Frequency]",
                                       mice_table(HELD_OUT_MICE))
    visualization, = generation_summary(
        table=real, taxonomy=taxonomy, generated_table=g_table,
        generated_taxonomy=g_taxonomy, generated_labels=g_labels,
        metadata=diet_column())
    visualization.export_data(tmp_path)
    correlations = pd.read_csv(tmp_path / "prevalence-correlations.tsv",
                               sep="\t")
    assert len(correlations) == 4
    realism = pd.read_csv(tmp_path / "real-vs-generated.tsv", sep="\t")
    assert realism["ROC-AUC real vs generated"].between(0, 1).all()
    assert "Genus prevalence" in (tmp_path / "index.html").read_text()
    richness = pd.read_csv(tmp_path / "richness-comparison.tsv", sep="\t",
                           index_col=0)
    assert list(richness.index) == ["BK", "Western"]
    np.testing.assert_allclose(richness["generated / real"],
                               richness["generated"] / richness["real"])


@pytest.mark.slow
def test_generate_on_the_command_line(tmp_path):
    out = tmp_path / "generated.qza"
    subprocess.run(
        [sys.executable, "-m", "q2cli", "mgm", "generate",
         "--p-n-samples", "2", "--p-max-length", "8", "--p-device", "cpu",
         "--o-generated-table", str(out),
         "--o-generated-taxonomy", str(tmp_path / "taxonomy.qza"),
         "--o-generated-labels", str(tmp_path / "labels.qza")],
        check=True, capture_output=True)
    table = qiime2.Artifact.load(str(out))
    assert str(table.type) == "FeatureTable[RelativeFrequency]"


def test_ordered_abundances_give_the_wanted_ranking():
    rng = np.random.default_rng(0)
    vocabulary = _data.pretrained().vocabulary
    for n in (1, 2, 17, 300, 510):
        position = rng.choice(len(vocabulary.genus_ids), n, replace=False)
        mean, std = vocabulary.mean[position], vocabulary.std[position]
        p = generation.ordered_abundances(mean, std, 1 / np.arange(1, n + 1))
        assert (p > 0).all() and abs(p.sum() - 1) < 1e-12
        assert (np.diff((p - mean) / std) < 0).all()


@pytest.mark.parametrize("labelled", [False, True])
def test_generated_tables_tokenize_back_to_their_sentences(labelled,
                                                           diet_model):
    """120 generated samples: the table MGM reads back is the sentence it
    generated, genus for genus and rank for rank."""
    model = diet_model.view(MGMModel) if labelled else _data.pretrained()
    labels = ["BK", "Western"] if labelled else None
    n = 60 if labelled else 120
    sampling = generation.Sampling(max_length=24, random_state=3,
                                   device="cpu")
    prefixes, _ = generation.label_prefixes(model, labels, n)
    sentences = generation.sample_sentences(model, prefixes, sampling)
    table, taxonomy, _ = generation.generate_samples(model, n, labels,
                                                     sampling)
    read_back, dropped = tokenize(table, taxonomy, model.vocabulary)
    assert dropped == [] and len(read_back) == len(sentences) == 120
    for i, sentence in enumerate(sentences):
        assert list(read_back.sentence(i)) == [BOS, *sentence, EOS]


def test_sampling_defaults_to_the_published_top_k():
    from qiime2.plugins import mgm
    signature = mgm.actions.generate.signature.parameters
    assert signature["top_k"].default == 50 == generation.Sampling().top_k
    model = _data.pretrained()
    prefixes, _ = generation.label_prefixes(model, None, 3)
    greedy = generation.sample_sentences(
        model, prefixes, generation.Sampling(max_length=12, top_k=1,
                                             device="cpu"))
    assert all(list(s) == list(greedy[0]) for s in greedy)


def test_pretrain_action_from_scratch_and_extended(taxonomy):
    """from_scratch and extend_vocabulary through the action."""
    view = mice_table(("PM9",))
    lineages = taxonomy.view(pd.Series)
    feature = view.ids(axis="observation")[0]
    lineages = lineages.copy()
    lineages[feature] = "k__Bacteria; g__Notagenusyet"
    table = qiime2.Artifact.import_data("FeatureTable[Frequency]", view)
    taxa = qiime2.Artifact.import_data("FeatureData[Taxonomy]", lineages)
    model, = pretrain(table=table, taxonomy=taxa, from_scratch=True,
                      extend_vocabulary=True, epochs=1, batch_size=8,
                      device="cpu")
    model = model.view(MGMModel)
    assert model.manifest["parameters"]["from_scratch"]
    assert model.manifest["source"]["started_from"] == \
        "random initialisation"
    assert "g__Notagenusyet" in model.vocabulary.tokens
    assert model.manifest["source"]["added_genera"] >= 1
    packaged = _data.pretrained().network.state_dict()
    weights = model.network.state_dict()
    assert not torch.equal(weights["transformer.h.0.attn.c_attn.weight"],
                           packaged["transformer.h.0.attn.c_attn.weight"])


def test_generated_sample_ids_are_safe_for_any_label(tmp_path):
    labels = ['Régime "chow" 🐭', "BK", "B K", "B_K", "🐭"]
    slugs = generation.id_safe(labels)
    assert len(set(slugs.values())) == len(labels)
    assert slugs['Régime "chow" 🐭'] == "Rgime_chow"
    ids = [f"synthetic-{slug}-1" for slug in slugs.values()]
    assert all(i.isascii() for i in ids)
    table = biom.Table(np.ones((1, len(ids))), ["g__Bacteroides"], ids)
    artifact = qiime2.Artifact.import_data("FeatureTable[Frequency]", table)
    artifact.save(str(tmp_path / "t.qza"))
    again = qiime2.Artifact.load(str(tmp_path / "t.qza")).view(biom.Table)
    assert list(again.ids()) == ids
