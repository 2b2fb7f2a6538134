import logging
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest

from ..actions.common import sentences_of
from ..mgm.tokens import genus_table, rank_sentences, tokenize
from ..mgm.vocabulary import BOS, EOS, SPECIAL_TOKENS, Vocabulary
from . import _data
from .reference import genus_frame, published_genus, published_sentences

GG = ("k__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; "
      "f__{}; g__{}; s__{}")
S132 = ("D_0__Bacteria;D_1__Firmicutes;D_2__Clostridia;D_3__Clostridiales;"
        "D_4__{};D_5__{}")
S138 = ("d__Bacteria; p__Firmicutes; c__Clostridia; o__Lachnospirales; "
        "f__{}; g__{}")
GTDB = ("d__Bacteria;p__Firmicutes_A;c__Clostridia;o__Lachnospirales;"
        "f__{};g__{};s__{}")
RDP = "Root;Bacteria;Firmicutes;Clostridia;Clostridiales;{};{}"
# Real taxonomy strings: (lineage, the vocabulary genus, or None: unmapped).
LINEAGES = [
    # Greengenes 13_8
    ("k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; "
     "f__Bacteroidaceae; g__Bacteroides; s__fragilis", "g__Bacteroides"),
    (GG.format("Lachnospiraceae", "[Ruminococcus]", "gnavus"),
     "g__Ruminococcus"),
    ("k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; "
     "f__[Paraprevotellaceae]; g__[Prevotella]; s__", "g__Prevotella"),
    ("k__Bacteria; p__Firmicutes; c__Erysipelotrichi; "
     "o__Erysipelotrichales; f__Erysipelotrichaceae; g__[Eubacterium]; "
     "s__dolichum", "g__Eubacterium"),
    (GG.format("Ruminococcaceae", "Faecalibacterium", "prausnitzii"),
     "g__Faecalibacterium"),
    (GG.format("Lachnospiraceae", "", ""), None),
    ("k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; "
     "f__S24-7; g__; s__", None),
    (GG.format("Clostridiaceae", "SMB53", ""), None),
    (GG.format("Clostridiaceae", "Candidatus Arthromitus", ""),
     "g__Candidatus_Arthromitus"),
    ("k__Bacteria; p__Proteobacteria; c__Betaproteobacteria; "
     "o__Rhodocyclales; f__Rhodocyclaceae; g__Candidatus Accumulibacter; "
     "s__", "g__Candidatus_Accumulibacter"),
    ("k__Bacteria; p__Verrucomicrobia; c__Verrucomicrobiae; "
     "o__Verrucomicrobiales; f__Verrucomicrobiaceae; g__Akkermansia; "
     "s__muciniphila", "g__Akkermansia"),
    ("k__Bacteria; p__Actinobacteria; c__Coriobacteriia; "
     "o__Coriobacteriales; f__Coriobacteriaceae; g__Adlercreutzia; s__",
     "g__Adlercreutzia"),
    (GG.format("Lachnospiraceae", "bacteroides", ""), None),  # case counts
    ("Unassigned", None),
    ("k__Bacteria; p__Firmicutes", None),
    # SILVA 132
    ("D_0__Bacteria;D_1__Bacteroidetes;D_2__Bacteroidia;D_3__Bacteroidales;"
     "D_4__Prevotellaceae;D_5__Prevotella 9", "g__Prevotella"),
    (S132.format("Clostridiaceae 1", "Clostridium sensu stricto 1"),
     "g__Clostridium"),
    (S132.format("Ruminococcaceae", "Ruminococcus 1"), "g__Ruminococcus"),
    (S132.format("Lachnospiraceae", "[Ruminococcus] torques group"), None),
    (S132.format("Lachnospiraceae", "[Eubacterium] hallii group"), None),
    (S132.format("Ruminococcaceae", "Ruminococcaceae UCG-014"), None),
    (S132.format("Lachnospiraceae", "Lachnospiraceae NK4A136 group"), None),
    ("D_0__Bacteria;D_1__Proteobacteria;D_2__Gammaproteobacteria;"
     "D_3__Enterobacteriales;D_4__Enterobacteriaceae;"
     "D_5__Escherichia-Shigella", "g__Escherichia"),
    (S132.format("Lachnospiraceae", "uncultured"), None),
    (S132.format("Lachnospiraceae", "Ambiguous_taxa"), None),
    # SILVA 138
    (S138.format("Lachnospiraceae", "[Ruminococcus]_gnavus_group"), None),
    (S138.format("Lachnospiraceae", "[Ruminococcus]_torques_group"), None),
    (S138.format("Lachnospiraceae", "[Bacteroides]_pectinophilus_group"),
     None),
    ("d__Bacteria; p__Firmicutes; c__Bacilli; o__Erysipelotrichales; "
     "f__Erysipelatoclostridiaceae; g__[Clostridium]_innocuum_group", None),
    (S138.format("Lachnospiraceae", "[Eubacterium]_eligens_group"), None),
    (S138.format("Lachnospiraceae", "Lachnospiraceae_NK4A136_group"), None),
    ("d__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; "
     "f__Clostridiaceae; g__Clostridium_sensu_stricto_1", "g__Clostridium"),
    ("d__Bacteria; p__Bacteroidota; c__Bacteroidia; o__Bacteroidales; "
     "f__Prevotellaceae; g__Prevotella_9", "g__Prevotella"),
    ("d__Bacteria; p__Proteobacteria; c__Gammaproteobacteria; "
     "o__Enterobacterales; f__Enterobacteriaceae; g__Escherichia-Shigella",
     "g__Escherichia"),
    ("d__Bacteria; p__Patescibacteria; c__Saccharimonadia; "
     "o__Saccharimonadales; f__Saccharimonadaceae; "
     "g__Candidatus_Saccharimonas", "g__Candidatus_Saccharimonas"),
    ("d__Bacteria; p__Proteobacteria; c__Gammaproteobacteria; "
     "o__Burkholderiales; f__Burkholderiaceae; "
     "g__Burkholderia-Caballeronia-Paraburkholderia", "g__Burkholderia"),
    ("d__Bacteria; p__Proteobacteria; c__Alphaproteobacteria; "
     "o__Rhizobiales; f__Rhizobiaceae; "
     "g__Allorhizobium-Neorhizobium-Pararhizobium-Rhizobium", None),
    (S138.format("Lachnospiraceae", "uncultured"), None),
    # GTDB r207
    ("d__Bacteria;p__Bacteroidota;c__Bacteroidia;o__Bacteroidales;"
     "f__Bacteroidaceae;g__Phocaeicola;s__Phocaeicola vulgatus",
     "g__Phocaeicola"),
    ("d__Bacteria;p__Bacteroidota;c__Bacteroidia;o__Bacteroidales;"
     "f__Bacteroidaceae;g__Bacteroides_A;s__Bacteroides_A sp1",
     "g__Bacteroides"),
    (GTDB.format("Lachnospiraceae", "Blautia_A", "Blautia_A obeum"),
     "g__Blautia"),
    (GTDB.format("Lachnospiraceae", "Ruminococcus_B",
                 "Ruminococcus_B gnavus"), "g__Ruminococcus"),
    (GTDB.format("Lachnospiraceae", "Eubacterium_I", ""), "g__Eubacterium"),
    (GTDB.format("Lachnospiraceae", "Mediterraneibacter", ""), None),
    (GTDB.format("Acutalibacteraceae", "CAG-170", ""), None),
    ("d__Bacteria;p__Firmicutes;c__Bacilli;o__Lactobacillales;"
     "f__Lactobacillaceae;g__Ligilactobacillus;s__", None),
    # RDP and mothur
    (RDP.format("Ruminococcaceae", "Faecalibacterium"),
     "g__Faecalibacterium"),
    ("Bacteria;Proteobacteria;Gammaproteobacteria;Enterobacteriales;"
     "Enterobacteriaceae;Escherichia/Shigella", "g__Escherichia"),
    (RDP.format("Lachnospiraceae", "Clostridium XlVa"), None),
    (RDP.format("Ruminococcaceae", "Clostridium IV"), None),
    (RDP.format("Clostridiaceae 1", "Clostridium sensu stricto"),
     "g__Clostridium"),
    ("Bacteria(100);Bacteroidetes(100);Bacteroidia(100);Bacteroidales(100);"
     "Bacteroidaceae(100);Bacteroides(100);", "g__Bacteroides"),
    ("Bacteria(100);Firmicutes(100);Clostridia(100);Clostridiales(100);"
     "Lachnospiraceae(100);Lachnospiraceae_unclassified(100);", None),
    # MetaPhlAn, genus-only and plain names
    ("k__Bacteria|p__Bacteroidetes|c__Bacteroidia|o__Bacteroidales|"
     "f__Bacteroidaceae|g__Bacteroides|s__Bacteroides_vulgatus",
     "g__Bacteroides"),
    ("g__Faecalibacterium", "g__Faecalibacterium"),
    ("g__Unknown_1234", None),
    ("k__Eukaryota; p__Bacillariophyta; c__; o__; f__; g__Pseudo-nitzschia",
     "g__Pseudo-nitzschia"),
]


@pytest.mark.parametrize("lineage, expected", LINEAGES)
def test_genus_mapping(lineage, expected):
    vocabulary = _data.pretrained().vocabulary
    position = vocabulary.genus_position(lineage)
    found = vocabulary.genus_tokens[position] if position >= 0 else None
    assert found == expected


def example_genera():
    vocabulary = _data.pretrained().vocabulary
    table = _data.example_table().view(biom.Table)
    taxonomy = _data.example_taxonomy().view(pd.Series)
    return genus_table(table, taxonomy, vocabulary), vocabulary


def test_sentences_match_published_preprocessing():
    genera, vocabulary = example_genera()
    sentences, _ = rank_sentences(genera, vocabulary)
    expected = published_sentences(genus_frame(genera, vocabulary),
                                   vocabulary)
    assert len(expected) == len(sentences) == 139
    for i, sample in enumerate(sentences.sample_ids):
        assert list(sentences.sentence(i)) == expected[sample]


def random_wide_table(n_samples=6, n_genera=700, seed=1):
    """Samples with up to 700 distinct vocabulary genera."""
    vocabulary = _data.pretrained().vocabulary
    rng = np.random.default_rng(seed)
    genera = rng.choice(vocabulary.genus_tokens, n_genera, replace=False)
    counts = rng.integers(0, 1000, size=(n_genera, n_samples))
    counts[:, 0] = rng.integers(1, 1000, size=n_genera)   # 700 genera
    counts[rng.random(counts.shape) < 0.5] = 0
    counts[:, 0] = np.maximum(counts[:, 0], 1)
    features = [f"F{i}" for i in range(n_genera)]
    table = biom.Table(counts.astype(float), features,
                       [f"S{j}" for j in range(n_samples)])
    taxonomy = pd.Series({f: f"k__Bacteria; {g}" for f, g in
                          zip(features, genera)})
    return table, taxonomy, vocabulary


def test_long_samples_keep_eos_and_drop_lowest_ranked():
    table, taxonomy, vocabulary = random_wide_table()
    genera = genus_table(table, taxonomy, vocabulary)
    sentences, n_genera = rank_sentences(genera, vocabulary)
    expected = published_sentences(genus_frame(genera, vocabulary),
                                   vocabulary)
    assert n_genera[0] == 700 and sentences.lengths[0] == 512
    for i, sample in enumerate(sentences.sample_ids):
        tokens = list(sentences.sentence(i))
        assert tokens[0] == BOS and tokens[-1] == EOS
        assert len(tokens) == min(n_genera[i] + 2, 512)
        # Identical ranking; only the cut differs from the published code,
        # which cuts <eos> instead of the 511th genus.
        assert tokens[:-1] == expected[sample][:len(tokens) - 1]


def test_relative_frequency_table_gives_same_sentences():
    genera, vocabulary = example_genera()
    table = _data.example_table().view(biom.Table)
    relative = table.norm(axis="sample", inplace=False)
    taxonomy = _data.example_taxonomy().view(pd.Series)
    counts, _ = tokenize(table, taxonomy, vocabulary)
    freqs, _ = tokenize(relative, taxonomy, vocabulary)
    assert np.array_equal(counts.tokens, freqs.tokens)


def test_ties_keep_vocabulary_order():
    vocabulary = Vocabulary(SPECIAL_TOKENS + ("g__Alpha", "g__Beta",
                                              "g__Gamma"),
                            np.full(3, 0.01), np.full(3, 0.1))
    table = biom.Table(np.array([[5.0], [9.0], [5.0]]), ["G", "B", "A"],
                       ["S"])
    taxonomy = pd.Series({"A": "g__Alpha", "B": "g__Beta", "G": "g__Gamma"})
    sentences, _ = tokenize(table, taxonomy, vocabulary)
    assert list(sentences.sentence(0)) == [BOS, 5, 4, 6, EOS]


def test_padded_matches_sentences():
    genera, vocabulary = example_genera()
    sentences, _ = rank_sentences(genera, vocabulary)
    padded = sentences.padded(length=512)
    for i in range(len(sentences)):
        n = sentences.lengths[i]
        assert list(padded[i, :n]) == list(sentences.sentence(i))
        assert not padded[i, n:].any()


def test_feature_with_empty_taxonomy_maps_to_no_genus():
    vocabulary = _data.pretrained().vocabulary
    table = biom.Table(np.array([[5.0], [7.0]]), ["A", "B"], ["S"])
    taxonomy = pd.Series({"A": "k__Bacteria; g__Bacteroides", "B": np.nan})
    genera = genus_table(table, taxonomy, vocabulary)
    assert [vocabulary.genus_tokens[p] for p in genera.genus_positions] == [
        "g__Bacteroides"]
    assert genera.counts.sum() == 5.0
    assert genera.unmapped.sum() == 7.0


def test_dropped_samples_are_reported(caplog):
    vocabulary = _data.pretrained().vocabulary
    table = biom.Table(np.array([[5.0, 0.0], [0.0, 7.0]]), ["A", "B"],
                       ["kept", "lost"])
    taxonomy = pd.Series({"A": "g__Bacteroides", "B": "g__"})
    sentences, dropped = tokenize(table, taxonomy, vocabulary,
                                  drop_unmapped=True)
    assert dropped == ["lost"] and list(sentences.sample_ids) == ["kept"]
    with caplog.at_level(logging.INFO, logger="q2_mgm"):
        sentences_of(table, taxonomy, _data.pretrained(), drop_unmapped=True)
    assert "Dropped 1 sample(s)" in caplog.text
    with pytest.raises(KeyError, match="lost"):
        sentences.select(["lost"])


@pytest.mark.parametrize("lineage, expected", LINEAGES)
def test_published_pattern_matches_are_kept(lineage, expected):
    """Where the published name pattern finds a genus, q2-mgm finds the
    same one; it finds more only where the lineage spells a genus in a way
    the pattern cannot read (brackets, spaces, suffixes, other formats)."""
    published = published_genus(lineage, _data.pretrained().vocabulary)
    if published is not None:
        assert expected == published


@pytest.mark.parametrize("name", ["mouse", "crc", "globalpatterns"])
def test_real_taxonomies_map_as_published(name):
    vocabulary = _data.pretrained().vocabulary
    taxonomy = pd.read_csv(Path(__file__).parent / "data" /
                           f"{name}-taxonomy.tsv", sep="\t", index_col=0)
    for lineage in taxonomy["Taxon"]:
        position = vocabulary.genus_position(lineage)
        found = vocabulary.genus_tokens[position] if position >= 0 else None
        assert found == published_genus(lineage, vocabulary), lineage
