"""The one batched inference engine every action uses.

Sentences are sorted by length and cut into batches padded only to the
longest sentence of the batch; the forward pass runs under
``torch.inference_mode`` and results are written back in sample order, one
batch at a time, so memory stays flat however many samples there are.
Padding is on the right and attention is causal, so no real token ever
attends to a pad: the forward pass needs no padding mask, which lets
PyTorch use its fused causal attention kernel.
"""
import contextlib
import os

import numpy as np
import torch
import transformers

from .vocabulary import PAD

# Without a mask transformers warns about padding, which is safe here.
transformers.logging.set_verbosity_error()

DEVICES = ("auto", "cpu", "cuda")
ATTENTION_BYTES = 1 << 30
POOLINGS = ("auto", "mean", "eos")


def resolve_device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is "
                         "available; use device='cpu' or 'auto'.")
    return torch.device(device)


def set_threads(threads):
    """Use ``threads`` CPU threads (0: all cores)."""
    torch.set_num_threads(threads or os.cpu_count() or 1)


@contextlib.contextmanager
def attention_implementation(network, name):
    """Temporarily switch the attention kernel (``eager`` for weights)."""
    config = network.config
    before = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = before


def length_batches(lengths, batch_size):
    """Positions grouped into batches of similar length, longest first."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pool(hidden, mask, lengths, pooling):
    """Sentence vectors from last hidden states (``mean`` or ``eos``)."""
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)
    return hidden[torch.arange(hidden.shape[0]), lengths - 1]


class Engine:
    """Batched forward passes of one MGM model on one device."""

    def __init__(self, model, device="auto", batch_size=64, threads=0):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1.")
        set_threads(threads)
        self.model = model
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.network = model.network.to(self.device).eval()

    def _inputs(self, padded):
        ids = torch.as_tensor(padded, device=self.device)
        mask = ids != PAD
        return ids, mask, mask.sum(1)

    def batches(self, sentences):
        """Yield ``(positions, ids, mask, lengths)`` per length batch."""
        for positions in length_batches(sentences.lengths, self.batch_size):
            yield (positions,) + self._inputs(sentences.padded(positions))

    def hidden_states(self, ids):
        return self.network.transformer(input_ids=ids).last_hidden_state

    def pooled(self, padded, pooling):
        """Pooled vectors of a padded token array (one batch)."""
        ids, mask, lengths = self._inputs(padded)
        with torch.inference_mode():
            return pool(self.hidden_states(ids), mask, lengths,
                        pooling).float().cpu().numpy()

    def embed(self, sentences, pooling="auto"):
        """One vector per sentence, in sentence order."""
        pooling = self.model.default_pooling if pooling == "auto" else pooling
        out = np.empty((len(sentences), self.network.config.n_embd),
                       dtype=np.float32)
        with torch.inference_mode():
            for positions, ids, mask, lengths in self.batches(sentences):
                hidden = self.hidden_states(ids)
                out[positions] = pool(hidden, mask, lengths,
                                      pooling).float().cpu().numpy()
        return out

    def logits(self, sentences):
        """Classifier logits per sentence, in sentence order."""
        out = np.empty((len(sentences), self.network.config.num_labels),
                       dtype=np.float32)
        with torch.inference_mode():
            for positions, ids, _, _ in self.batches(sentences):
                logits = self.network(input_ids=ids).logits
                out[positions] = logits.float().cpu().numpy()
        return out

    def attention_received(self, sentences):
        """Per sentence, attention each position receives.

        Attention matrices are averaged over all layers and heads; a
        position's weight is the sum of its column. Yields
        ``(position, weights, per_layer)`` per sentence, where
        ``per_layer`` is ``(n_layer, length)``.
        """
        config = self.network.config
        with torch.inference_mode(), \
                attention_implementation(self.network, "eager"):
            for batch in length_batches(sentences.lengths, self.batch_size):
                longest = int(sentences.lengths[batch[0]])
                # Attention matrices of all layers: cap them at ~1 GiB.
                per_pass = max(1, ATTENTION_BYTES // (
                    4 * config.n_layer * config.n_head * longest ** 2))
                for start in range(0, len(batch), per_pass):
                    yield from self._attention_pass(
                        sentences, batch[start:start + per_pass])

    def _attention_pass(self, sentences, positions):
        ids, mask, lengths = self._inputs(sentences.padded(positions))
        attentions = self.network.transformer(
            input_ids=ids, output_attentions=True).attentions
        query_mask = mask[:, :, None].to(attentions[0].dtype)
        per_layer = torch.stack([(layer.mean(1) * query_mask).sum(1)
                                 for layer in attentions], 1)  # b, L, k
        per_layer = per_layer.float().cpu().numpy()
        for row, position in enumerate(positions):
            layers = per_layer[row, :, :int(lengths[row])]
            yield position, layers.mean(0), layers
