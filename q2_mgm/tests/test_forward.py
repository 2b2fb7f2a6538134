"""The engine's fast inference forward, prefix reuse and lower precision,
each against transformers' own forward pass."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import GPT2Config
from transformers.activations import NewGELUActivation

from ..mgm import finetuning, forward
from ..mgm.engine import (Engine, attention_implementation, shared_start,
                          source_batches)
from ..mgm.interpretation import perturb_sentence
from ..mgm.model import MGMModel, build_network
from ..mgm.tokens import Sentences
from ..mgm.vocabulary import BOS, EOS
from . import _data

LENGTHS = [3, 40, 12, 200, 25, 90, 510, 7, 66]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA GPU on this machine")


def sentences(lengths=LENGTHS, seed=3):
    vocabulary = _data.pretrained().vocabulary
    rng = np.random.default_rng(seed)
    return Sentences.from_list(
        [f"S{i}" for i in range(len(lengths))],
        [[BOS, *rng.choice(vocabulary.genus_ids, n - 2, replace=False), EOS]
         for n in lengths])


def plain(network, sentence, pooling="mean"):
    """transformers' own forward of one sentence, pooled."""
    with torch.no_grad():
        hidden = network.transformer(
            input_ids=torch.as_tensor(sentence)[None]).last_hidden_state[0]
    return (hidden.mean(0) if pooling == "mean" else hidden[-1]).numpy()


def test_gelu_in_place_is_transformers_gelu_new_bit_for_bit():
    x = torch.randn(300, 1024) * 4
    assert torch.equal(forward.gelu_new_(x.clone()), NewGELUActivation()(x))


def test_fast_forward_equals_transformers():
    network = _data.pretrained().network.eval()
    assert forward.supported(network)
    batch = sentences()
    ids = torch.as_tensor(batch.padded())
    with torch.inference_mode():
        fast = forward.hidden_states(network.transformer, ids)
        expected = network.transformer(input_ids=ids).last_hidden_state
    real = ids != 0
    assert (fast[real] - expected[real]).abs().max() < 1e-5


def test_fast_forward_rounds_like_transformers():
    """Against transformers' own float64 forward pass, the fast float32
    forward of each sentence alone is off by about what transformers'
    float32 forward is (at most 3x; GPT-2's residuals reach about 1,500,
    and a matrix multiply accumulating into them costs short sentences
    4-8x)."""
    network = _data.pretrained().network.eval()
    exact = copy.deepcopy(network).double()
    batch = sentences([3, 7, 12, 40, 130])
    with torch.inference_mode():
        for i in range(len(batch)):
            ids = torch.as_tensor(batch.sentence(i))[None]
            truth = exact.transformer(input_ids=ids).last_hidden_state
            own = network.transformer(input_ids=ids).last_hidden_state
            fast = forward.hidden_states(network.transformer, ids)
            assert ((fast.double() - truth).abs().max()
                    < 3 * (own.double() - truth).abs().max())


@pytest.mark.parametrize("order", [np.argsort(LENGTHS)[::-1], None])
def test_packed_forward_equals_transformers(order):
    """Real tokens only through the projections, attention in groups of
    rows of similar length (sorted longest first, or in any order)."""
    network = _data.pretrained().network.eval()
    batch = sentences()
    if order is not None:
        batch = batch.subset(order.copy())
    ids = torch.as_tensor(batch.padded())
    real = ids != 0
    layout = forward.Layout(*ids.shape, real.sum(1))
    assert layout.index is not None and len(layout.groups) > 1
    with torch.inference_mode():
        fast = forward.hidden_states(network.transformer, ids,
                                     lengths=real.sum(1))
        expected = network.transformer(input_ids=ids).last_hidden_state
    assert (fast[real] - expected[real]).abs().max() < 1e-5


def test_classifier_logits_equal_transformers_sequence_classification():
    model = _data.pretrained()
    torch.manual_seed(0)
    network, _ = finetuning.sequence_network(model, ["a", "b", "c"], 0)
    classifier = MGMModel(network.eval(), model.vocabulary,
                          {"kind": "classifier"})
    batch = sentences()
    logits = Engine(classifier, device="cpu", batch_size=4).logits(batch)
    with torch.no_grad():
        expected = np.stack([network(input_ids=torch.as_tensor(
            batch.sentence(i))[None]).logits[0].numpy()
            for i in range(len(batch))])
    assert np.abs(logits - expected).max() < 1e-5


def variants_of(batch, step=11):
    """Every kind of variant: genera moved or removed, and unchanged."""
    sources, variants = [], []
    for i in range(len(batch)):
        sentence = batch.sentence(i)
        for index in range(1, len(sentence) - 1, step):
            for mode in ("enrich", "reduce", "delete"):
                sources.append(i)
                variants.append(perturb_sentence(sentence, index, mode))
        sources.append(i)
        variants.append(sentence)
    return sources, variants


@pytest.mark.parametrize("pooling", ["mean", "eos"])
def test_variants_reuse_prefixes_and_equal_whole_forward_passes(pooling):
    model = _data.pretrained()
    batch = sentences([3, 40, 12, 130, 25])
    sources, variants = variants_of(batch)
    found = Engine(model, device="cpu", batch_size=8).embed_variants(
        batch, sources, variants, pooling)
    expected = np.stack([plain(model.network, v, pooling)
                         for v in variants])
    assert np.abs(found - expected).max() < 1e-5


def test_variants_after_long_prefixes_stay_within_512_positions():
    """A short tail after a 500-token prefix shares a batch with a long
    tail: its padding runs past position 511 and must not break."""
    model = _data.pretrained()
    batch = sentences([510, 60])
    variants = [perturb_sentence(batch.sentence(0), 500, "delete"),
                perturb_sentence(batch.sentence(1), 3, "delete")]
    found = Engine(model, device="cpu").embed_variants(
        batch, [0, 1], variants, "mean")
    expected = np.stack([plain(model.network, v) for v in variants])
    assert np.abs(found - expected).max() < 1e-5


def test_source_batches_take_sources_whole_within_the_budget():
    sources = np.array([2, 0, 1, 0, 2, 1, 1, 0, 2, 2])
    lengths = np.array([9, 3, 2, 5, 1, 4, 4, 2, 30, 6])
    batches = source_batches(sources, lengths, max_tokens=12)
    assert sorted(np.concatenate(batches)) == list(range(10))
    for batch in batches:
        assert list(lengths[batch]) == sorted(lengths[batch], reverse=True)
    # Sources 0 (10 tokens) and 1 (10) come whole; 2 (46) is split.
    assert [sorted(set(sources[b])) for b in batches][:2] == [[0], [1]]
    assert all(lengths[b].sum() <= 12 or len(b) == 1 for b in batches)


def test_shared_start_leaves_a_token_to_run():
    sentence = np.array([2, 10, 11, 12, 3])
    assert shared_start(sentence, sentence) == 4
    assert shared_start(sentence, np.array([2, 10, 12, 3])) == 2
    assert shared_start(sentence, np.array([2, 12, 10, 11, 3])) == 1


def test_networks_the_fast_path_does_not_cover_run_through_transformers():
    model = _data.pretrained()
    config = GPT2Config.from_dict(model.network.config.to_dict())
    config.activation_function = "gelu"
    torch.manual_seed(0)
    network = build_network(config, "pretrained").eval()
    engine = Engine(MGMModel(network, model.vocabulary, model.manifest),
                    device="cpu")
    assert not engine.fast
    batch = sentences([5, 30, 70])
    found = engine.embed(batch, "mean")
    expected = np.stack([plain(network, batch.sentence(i))
                         for i in range(len(batch))])
    assert np.abs(found - expected).max() < 1e-5
    sources, variants = variants_of(batch)
    found = engine.embed_variants(batch, sources, variants, "mean")
    assert np.abs(found - np.stack([plain(network, v) for v in variants])
                  ).max() < 1e-5


def cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) \
        / np.linalg.norm(b, axis=1)


@pytest.mark.parametrize("precision, worst", [("int8", 0.99),
                                              ("bfloat16", 0.999)])
def test_lower_precision_stays_close_to_float32(precision, worst):
    model = _data.pretrained()
    batch = sentences()
    exact = Engine(model, device="cpu").embed(batch, "mean")
    engine = Engine(model, device="cpu", precision=precision)
    lowered = engine.embed(batch, "mean")
    assert cosines(exact, lowered).min() > worst
    assert not np.array_equal(exact, lowered)  # it did run lowered
    assert np.array_equal(lowered, engine.embed(batch, "mean"))
    # The model itself keeps its float32 weights.
    assert model.network.transformer.h[0].attn.c_attn.weight.dtype \
        == torch.float32


def test_precision_errors_name_the_alternatives():
    model = _data.pretrained()
    with pytest.raises(ValueError, match="float16' needs a CUDA GPU"):
        Engine(model, device="cpu", precision="float16")
    with pytest.raises(ValueError, match="Unknown precision 'int4'"):
        Engine(model, device="cpu", precision="int4")


@needs_cuda
@pytest.mark.parametrize("pooling", ["mean", "eos"])
def test_cuda_embeddings_and_variants_equal_the_cpu(pooling):
    model = _data.pretrained()
    batch = sentences()
    cpu = Engine(model, device="cpu").embed(batch, pooling)
    gpu = Engine(model, device="cuda").embed(batch, pooling)
    model.network.cpu()
    assert np.abs(cpu - gpu).max() < 1e-4
    sources, variants = variants_of(sentences([40, 130]))
    cpu = Engine(model, device="cpu").embed_variants(
        sentences([40, 130]), sources, variants, pooling)
    gpu = Engine(model, device="cuda").embed_variants(
        sentences([40, 130]), sources, variants, pooling)
    model.network.cpu()
    assert np.abs(cpu - gpu).max() < 1e-4


@needs_cuda
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_cuda_half_precision_stays_close_to_float32(precision):
    model = _data.pretrained()
    batch = sentences()
    exact = Engine(model, device="cpu").embed(batch, "mean")
    lowered = Engine(model, device="cuda", precision=precision).embed(
        batch, "mean")
    model.network.cpu()
    assert cosines(exact, lowered).min() > 0.999


def test_embed_action_takes_a_precision():
    from qiime2.plugins.mgm.actions import embed
    table, taxonomy = _data.example_table(6), _data.example_taxonomy()
    exact, = embed(table, taxonomy, device="cpu")
    lowered, = embed(table, taxonomy, device="cpu", precision="int8")
    exact, lowered = (a.view(pd.DataFrame).to_numpy() for a in
                      (exact, lowered))
    assert cosines(exact, lowered).min() > 0.99
    assert not np.array_equal(exact, lowered)


def test_attention_received_equals_transformers_attention_weights():
    """Per layer, the attention each position receives (weights averaged
    over heads, summed over queries) against transformers' own eager
    attention weights of each sentence alone, packed rows in groups."""
    model = _data.pretrained()
    batch = sentences()
    found = {position: layers for position, _, layers in
             Engine(model, device="cpu", batch_size=4)
             .attention_received(batch)}
    assert sorted(found) == list(range(len(batch)))
    network = model.network
    with torch.inference_mode(), \
            attention_implementation(network, "eager"):
        for i in range(len(batch)):
            weights = network.transformer(
                input_ids=torch.as_tensor(batch.sentence(i))[None],
                output_attentions=True).attentions
            expected = torch.stack([w[0].mean(0).sum(0) for w in weights])
            # Column sums of up to 510 weights: relative rounding.
            np.testing.assert_allclose(found[i], expected.numpy(),
                                       rtol=1e-5, atol=1e-6)
