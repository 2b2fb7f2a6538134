"""q2-mgm against the published MGM code path (an oracle q2-mgm did not
write): sentences, embeddings, logits and likelihoods of real samples
computed by the published ``MicroCorpus`` and plain ``transformers``
(``scripts/published_reference.py``), and the published weights loaded by
``GPT2LMHeadModel.from_pretrained``."""
import os
import zipfile
from pathlib import Path

import biom
import numpy as np
import pandas as pd
import pytest
import torch
from transformers import GPT2LMHeadModel

from ..mgm.engine import Engine
from ..mgm.model import MGMModel
from ..mgm.tokens import tokenize
from ..mgm.vocabulary import BOS, EOS
from . import _data

DATA = Path(__file__).parent / "data"
TABLES = ("mouse", "crc", "globalpatterns")
TOLERANCE = 1e-4
WHEEL = os.environ.get("Q2_MGM_PUBLISHED_WHEEL")
needs_wheel = pytest.mark.skipif(
    not (WHEEL and Path(WHEEL).is_file()),
    reason="set Q2_MGM_PUBLISHED_WHEEL to the microformer-mgm 0.5.8 wheel "
           "(`make test` downloads it) to compare with the published weights")


def read_input(name):
    table = pd.read_csv(DATA / f"{name}-table.tsv", sep="\t", index_col=0)
    taxonomy = pd.read_csv(DATA / f"{name}-taxonomy.tsv", sep="\t",
                           index_col=0)["Taxon"]
    return (biom.Table(table.to_numpy(float), list(table.index),
                       list(table.columns)), taxonomy)


def published(name):
    return pd.read_csv(DATA / f"published-{name}.tsv", sep="\t",
                       index_col=0, dtype={"sample": str})


def sentences_of(name, vocabulary):
    table, taxonomy = read_input(name)
    sentences, dropped = tokenize(table, taxonomy, vocabulary)
    assert dropped == []
    return sentences


def columns(frame, prefix):
    return [c for c in frame.columns if c.startswith(prefix)]


def differences(model, name):
    """Largest |q2-mgm - published| of embeddings, logits, likelihoods."""
    expected = published(name)
    sentences = sentences_of(name, model.vocabulary).select(expected.index)
    embeddings = Engine(model, device="cpu").embed(sentences, pooling="mean")
    logit_ids = [int(c.split("_")[1]) for c in columns(expected, "logit_")]
    logits, likelihood = [], []
    with torch.no_grad():
        for i in range(len(sentences)):
            ids = torch.as_tensor(sentences.sentence(i))[None]
            out = model.network(input_ids=ids).logits[0]
            logits.append(out[-1, logit_ids].numpy())
            log_probs = torch.log_softmax(out[:-1], -1)
            likelihood.append(float(log_probs.gather(
                1, ids[0, 1:, None]).mean()))
    return {
        "embedding": np.abs(embeddings - expected[columns(
            expected, "e")].to_numpy()).max(),
        "logits": np.abs(np.array(logits) - expected[columns(
            expected, "logit_")].to_numpy()).max(),
        "log_likelihood": np.abs(np.array(likelihood)
                                 - expected["log_likelihood"]).max()}


@pytest.mark.parametrize("name", TABLES)
def test_sentences_equal_published_construct(name):
    expected = published(name)
    sentences = sentences_of(name, _data.pretrained().vocabulary)
    assert list(sentences.sample_ids) == list(expected.index)
    for i, text in enumerate(expected["sentence"]):
        assert list(sentences.sentence(i)) == [int(t) for t in text.split()]


@pytest.mark.parametrize("name", TABLES)
def test_outputs_equal_published_code_path(name):
    found = differences(_data.pretrained(), name)
    assert max(found.values()) < TOLERANCE, found


def test_zero_attention_bias_model_fails_the_oracle():
    """The oracle catches the defect of dropped query/key/value biases."""
    model = _data.pretrained()
    network = GPT2LMHeadModel(model.network.config)
    network.load_state_dict(model.network.state_dict())
    for block in network.transformer.h:
        block.attn.c_attn.bias.data.zero_()
    found = differences(MGMModel(network.eval(), model.vocabulary,
                                 model.manifest), "crc")
    assert found["embedding"] > 0.05 and found["logits"] > 0.05


@pytest.fixture(scope="module")
def from_pretrained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("published")
    with zipfile.ZipFile(WHEEL) as archive:
        for name in ("config.json", "pytorch_model.bin"):
            member = f"mgm/resources/general_model/{name}"
            (folder / name).write_bytes(archive.read(member))
    return GPT2LMHeadModel.from_pretrained(folder).eval()


@needs_wheel
@pytest.mark.parametrize("length", [3, 10, 57, 200, 511, 512])
def test_logits_equal_plain_transformers_load(from_pretrained, length):
    model = _data.pretrained()
    rng = np.random.default_rng(length)
    genera = rng.choice(model.vocabulary.genus_ids, length - 2,
                        replace=False)
    ids = torch.tensor([[BOS, *genera, EOS]])
    with torch.no_grad():
        expected = from_pretrained(input_ids=ids).logits
        found = model.network(input_ids=ids).logits
    assert (expected - found).abs().max().item() < 1e-5


@needs_wheel
def test_every_published_tensor_is_packaged(from_pretrained):
    packaged = _data.pretrained().network.state_dict()
    for name, tensor in from_pretrained.state_dict().items():
        assert torch.equal(packaged[name], tensor), name
