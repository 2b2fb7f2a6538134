"""The one engine that runs every forward pass of an MGM network.

Embedding, logits, attention, training and validation losses, next-genus
likelihoods and generation all go through ``Engine``: one device and thread
set-up, one padding policy and one batching rule. Sentences are padded on
the right, only to the longest sentence of their batch, and attention is
causal, so no real token ever attends to a pad: no padding mask is needed,
which lets PyTorch use its fused causal attention kernel. Batches are
sorted by length where order does not matter (and hold fewer samples when
samples are long), and for training are shuffled groups of similar length
(as the Hugging Face Trainer's ``group_by_length``). Inference runs under
``torch.inference_mode``, through ``forward``'s fast path where it covers
the network, and keeps only one batch's activations.
"""
import contextlib
import os

import numpy as np
import torch
import torch.nn.functional as F
import transformers

from . import forward
from .precision import lowered
from .tokens import Sentences
from .vocabulary import EOS, PAD

# Without a mask transformers warns about padding, which is safe here.
transformers.logging.set_verbosity_error()

ATTENTION_BYTES = 1 << 30
TOKENS_PER_SAMPLE = 128  # inference batches hold batch_size x this at most
TAIL_TOKENS = 48  # the same for the tails of variants (embed_variants)
MEGABATCH = 50  # batches per length-sorted group when training


def resolve_device(device):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is "
                         "available; use device='cpu' or 'auto'.")
    return torch.device(device)


def available_cores():
    """Cores this process may use: Galaxy's ``GALAXY_SLOTS`` when set, else
    the CPU affinity the scheduler gave the process."""
    slots = os.environ.get("GALAXY_SLOTS", "")
    if slots.isdigit() and int(slots) > 0:
        return int(slots)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity (macOS)
        return os.cpu_count() or 1


def set_threads(threads):
    """Use ``threads`` CPU threads (0: every core available to the job)."""
    torch.set_num_threads(threads or available_cores())


def length_batches(lengths, batch_size, rng=None, max_tokens=None):
    """Positions into ``lengths`` in batches of similar length.

    Without ``rng``: longest first, and with ``max_tokens`` no batch holds
    more padded tokens than that (long sentences come fewer at a time,
    which also keeps their batches to a narrower range of lengths). With
    ``rng`` (training): a random permutation cut into groups of
    ``MEGABATCH`` batches, each group sorted by length, so batches are
    shuffled yet padded little.
    """
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(-lengths, kind="stable")
        if max_tokens is not None:
            batches, start = [], 0
            while start < len(order):
                fit = max_tokens // max(int(lengths[order[start]]), 1)
                size = max(1, min(batch_size, fit))
                batches.append(order[start:start + size])
                start += size
            return batches
    else:
        order = rng.permutation(len(lengths))
        group = MEGABATCH * batch_size
        order = np.concatenate([
            chunk[np.argsort(-lengths[chunk], kind="stable")]
            for chunk in np.array_split(order, range(group, len(order),
                                                     group))])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def narrow(group, lengths, spread=0.8):
    """Split a longest-first group of sentences where a sentence is shorter
    than ``spread`` times the group's first, so that tails of one length
    have prefixes of similar length."""
    cuts = [0]
    for i in range(1, len(group)):
        if lengths[group[i]] < spread * lengths[group[cuts[-1]]]:
            cuts.append(i)
    return np.split(group, cuts[1:])


def source_batches(sources, lengths, max_tokens):
    """Batches of variants of up to ``max_tokens`` real tokens, each
    longest first, that hold all variants of a source together (the
    variants of one source share its cached keys) unless the source alone
    has more tokens than that."""
    sources, lengths = np.asarray(sources), np.asarray(lengths)
    order = np.lexsort((-lengths, sources))
    units = []
    for part in np.split(order, np.flatnonzero(np.diff(sources[order])) + 1):
        units += ([part] if lengths[part].sum() <= max_tokens
                  else np.split(part, len(part)))
    batches, current, tokens = [], [], 0
    for unit in units:
        size = int(lengths[unit].sum())
        if current and tokens + size > max_tokens:
            batches.append(np.concatenate(current))
            current, tokens = [], 0
        current.append(unit)
        tokens += size
    batches.append(np.concatenate(current))
    return [batch[np.argsort(-lengths[batch], kind="stable")]
            for batch in batches]


def shared_start(sentence, variant):
    """How many first tokens a variant shares with its sentence (at most
    all but the variant's last, so that something is left to run)."""
    n = min(len(sentence), len(variant) - 1)
    differ = np.flatnonzero(sentence[:n] != variant[:n])
    return int(differ[0]) if len(differ) else n


def real_lengths(ids):
    """Real tokens of each right-padded row."""
    return (ids != PAD).sum(1)


def pool(hidden, ids, pooling):
    """Sentence vectors from last hidden states (``mean`` or ``eos``)."""
    mask = ids != PAD
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1)
    return hidden[torch.arange(hidden.shape[0]), mask.sum(1) - 1]


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


class Engine:
    """Batched forward passes of one MGM model on one device."""

    def __init__(self, model, device="auto", batch_size=64, threads=0,
                 precision="float32"):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1.")
        set_threads(threads)
        self.model = model
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.network = lowered(model.network.to(self.device), precision,
                               self.device).eval()
        self.fast = forward.supported(self.network)

    # Batches ---------------------------------------------------------------

    def length_batches(self, lengths):
        """Inference batches: ``batch_size`` samples, fewer when long."""
        return length_batches(lengths, self.batch_size,
                              max_tokens=self.batch_size * TOKENS_PER_SAMPLE)

    def ids(self, sentences, positions):
        """Token ids of some sentences, right-padded, on the device."""
        return torch.as_tensor(sentences.padded(positions),
                               device=self.device)

    def batches(self, sentences):
        """Yield ``(positions, ids)`` per batch, longest first."""
        for batch in self.length_batches(sentences.lengths):
            yield batch, self.ids(sentences, batch)

    def _collect(self, sentences, width, compute, progress=None):
        """``compute(ids)`` of every batch, written back in sentence
        order; ``progress`` (a ``progress.Progress``) advances per
        sentence."""
        out = np.empty((len(sentences), width), dtype=np.float32)
        with torch.inference_mode():
            for positions, ids in self.batches(sentences):
                out[positions] = compute(ids).float().cpu().numpy()
                if progress is not None:
                    progress.advance(len(positions))
        return out

    # Inference --------------------------------------------------------------

    def hidden_states(self, ids):
        """Last hidden states; inference takes ``forward``'s fast path."""
        transformer = self.network.transformer
        if self.fast and not torch.is_grad_enabled():
            return forward.hidden_states(transformer, ids,
                                         lengths=real_lengths(ids)).float()
        return transformer(input_ids=ids).last_hidden_state.float()

    def embed(self, sentences, pooling="auto", progress=None):
        """One vector per sentence, in sentence order."""
        pooling = self.model.default_pooling if pooling == "auto" else pooling
        return self._collect(
            sentences, self.network.config.n_embd,
            lambda ids: pool(self.hidden_states(ids), ids, pooling),
            progress)

    def embed_variants(self, sentences, sources, variants, pooling="auto",
                       embedded=None, progress=None):
        """One vector per variant sentence; ``variants[j]`` is a variant of
        ``sentences[sources[j]]`` (a genus moved or removed, say).

        The start a variant shares with its source is computed once per
        source (keys, values and hidden states of every layer) and only
        the rest of the variant runs: under causal attention the shared
        positions are unchanged. Without ``forward``'s fast path every
        variant runs whole. ``embedded``, an array of one row per
        sentence, receives the embedding of each source run here (a
        by-product of its start); its other rows are left as they are.
        ``progress`` advances per variant.
        """
        pooling = self.model.default_pooling if pooling == "auto" else pooling
        sources = np.asarray(sources, dtype=np.int64)
        keep = np.array([shared_start(sentences.sentence(s), v)
                         for s, v in zip(sources, variants)], dtype=np.int64)
        whole = np.flatnonzero(keep < 2) if self.fast \
            else np.arange(len(variants))
        out = np.empty((len(variants), self.network.config.n_embd),
                       dtype=np.float32)
        if len(whole):
            out[whole] = self.embed(Sentences.from_list(
                whole, [variants[j] for j in whole]), pooling, progress)
            sources = sources.copy()
            sources[whole] = -1  # done
        order = np.argsort(sources, kind="stable")
        bounds = np.searchsorted(sources[order], np.arange(len(sentences) + 1))
        used = np.flatnonzero(np.diff(bounds))
        groups = [part for group in self.length_batches(
            sentences.lengths[used]) for part in narrow(used[group],
                                                        sentences.lengths)]
        with torch.inference_mode():
            for group in groups:
                jobs = np.concatenate([order[bounds[g]:bounds[g + 1]]
                                       for g in group])
                row = np.zeros(len(sentences), dtype=np.int64)
                row[group] = np.arange(len(group))
                self._variant_group(sentences, group, jobs, row[sources[jobs]],
                                    keep[jobs], [variants[j] for j in jobs],
                                    pooling, out, embedded, progress)
        return out

    def _variant_group(self, sentences, group, jobs, rows, keep, variants,
                       pooling, out, embedded, progress):
        """Embed the variants of one group of source sentences."""
        ids = self.ids(sentences, group)
        hidden, cache = forward.hidden_states(
            self.network.transformer, ids, keep_cache=True,
            lengths=real_lengths(ids))
        if embedded is not None:
            embedded[group] = pool(hidden.float(), ids, pooling).cpu().numpy()
        sums = F.pad(hidden.double().cumsum(1), (0, 0, 1, 0))
        tails = Sentences.from_list(
            np.arange(len(jobs)), [v[k:] for v, k in zip(variants, keep)])
        for batch in source_batches(rows, tails.lengths,
                                    self.batch_size * TAIL_TOKENS):
            used, inverse = np.unique(rows[batch], return_inverse=True)
            source = torch.as_tensor(rows[batch], device=self.device)
            start = torch.as_tensor(keep[batch], device=self.device)
            width = int(keep[batch].max())
            picked = torch.as_tensor(used, device=self.device)
            prefix = forward.Prefix(
                [k[:, :, :width].index_select(0, picked) for k in cache.keys],
                [v[:, :, :width].index_select(0, picked)
                 for v in cache.values], start,
                torch.as_tensor(inverse, device=self.device))
            tail_ids = self.ids(tails, batch)
            tail = forward.hidden_states(
                self.network.transformer, tail_ids, prefix=prefix,
                lengths=real_lengths(tail_ids)).float()
            if pooling == "mean":
                real = (tail_ids != PAD).unsqueeze(-1)
                total = sums[source, start] + (tail * real).sum(1).double()
                vectors = total / (start + real.sum(1).squeeze(-1))[:, None]
            else:
                vectors = pool(tail, tail_ids, "eos")
            out[jobs[batch]] = vectors.float().cpu().numpy()
            if progress is not None:
                progress.advance(len(batch))

    def logits(self, sentences):
        """Classifier logits per sentence (the head on the last token's
        state, as ``GPT2ForSequenceClassification``), in sentence order."""
        return self._collect(
            sentences, self.network.config.num_labels,
            lambda ids: self.network.score(pool(
                self.hidden_states(ids), ids, "eos").to(
                    self.network.score.weight.dtype)))

    def next_token_loss(self, sentences, targets):
        """Mean cross-entropy of predicting each token from those before
        it, over the tokens where the boolean ``targets`` (indexed by
        token id) is true."""
        targets = torch.as_tensor(targets, device=self.device)
        total, count = 0.0, 0
        with torch.inference_mode():
            for _, ids in self.batches(sentences):
                logits = self.network(input_ids=ids).logits[:, :-1]
                following = ids[:, 1:]
                keep = targets[following] & (following != PAD)
                total += float(F.cross_entropy(logits[keep].float(),
                                               following[keep],
                                               reduction="sum"))
                count += int(keep.sum())
        return total / max(count, 1)

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
            for batch in self.length_batches(sentences.lengths):
                longest = int(sentences.lengths[batch[0]])
                # transformers keeps the attention matrices of all layers:
                # cap them at ~1 GiB (the fast path keeps none).
                per_pass = len(batch) if self.fast else max(
                    1, ATTENTION_BYTES // (
                        4 * config.n_layer * config.n_head * longest ** 2))
                for start in range(0, len(batch), per_pass):
                    yield from self._attention_pass(
                        sentences, batch[start:start + per_pass])

    def _attention_pass(self, sentences, positions):
        ids = self.ids(sentences, positions)
        mask = ids != PAD
        lengths = mask.sum(1)
        if self.fast:
            received = []
            forward.hidden_states(self.network.transformer, ids,
                                  lengths=lengths, received=received)
        else:
            query_mask = mask[:, :, None]
            received = [(layer.mean(1) * query_mask).sum(1) for layer in
                        self.network.transformer(
                            input_ids=ids, output_attentions=True).attentions]
        per_layer = torch.stack(received, 1).float().cpu().numpy()  # b, L, k
        for row, position in enumerate(positions):
            layers = per_layer[row, :, :int(lengths[row])]
            yield position, layers.mean(0), layers

    # Generation -------------------------------------------------------------

    def decode(self, prefixes, sampler, max_length):
        """Tokens generated after each prefix, up to ``<eos>``.

        Prefixes (lists of token ids of one length) run in batches with a
        key/value cache. ``sampler(n)`` returns the step function of a
        batch of ``n``: ``step(logits, index, last)`` gives each row's next
        token from its next-token logits.
        """
        out = []
        with torch.inference_mode():
            for start in range(0, len(prefixes), self.batch_size):
                prefix = torch.as_tensor(
                    prefixes[start:start + self.batch_size],
                    device=self.device)
                out += self._decode_batch(prefix, sampler(len(prefix)),
                                          max_length)
        return out

    def _decode_batch(self, prefix, step, max_length):
        n, start = prefix.shape
        steps = max_length - start
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        out = torch.full((n, steps), EOS, dtype=torch.long,
                         device=self.device)
        inputs, past = prefix, None
        for index in range(steps):
            result = self.network(input_ids=inputs, past_key_values=past,
                                  use_cache=True)
            past = result.past_key_values
            token = step(result.logits[:, -1].float(), index,
                         index == steps - 1).masked_fill(done, EOS)
            out[:, index] = token
            done |= token == EOS
            if bool(done.all()):
                break
            inputs = token[:, None]
        return [row[:int(np.argmax(row == EOS))] for row in out.cpu().numpy()]
