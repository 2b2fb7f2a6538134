"""The inference forward pass of a GPT-2 transformer, laid out for speed.

It computes what ``transformers``' ``GPT2Model`` computes (the published
``gelu_new`` activation, fused causal attention) with less work and memory
traffic: padding skips the projections and the feed-forward half (they run
on the real tokens only), which runs in chunks of rows that stay in the CPU
cache, the activation and the residual additions work in place, queries,
keys and values are views of one projection, and attention runs per group
of rows of similar length, in blocks of query positions that see only the
keys up to them (PyTorch's CPU kernel skips no work of a causal mask
shorter than its 512-key tile).

It can also start from a prefix: the keys and values of each row's first
positions, computed once (``keep_cache``) and reused by many continuations
of different prefix lengths (in-silico perturbation changes only the
positions from the perturbed genus on); the continuations of one cached
row attend to it as one long query sequence. Only for inference; training
goes through ``transformers``.
"""
import math
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.pytorch_utils import Conv1D

ROWS = 1024  # feed-forward rows per chunk (a 1024 x 4d block fits in L2)
QUERIES = 64  # attention query positions per call (causal: keys up to them)
SPREAD, GAP = 0.9, 8  # rows padded together for attention: lengths
# within 90% or 8 tokens of the longest
FOLDED = 512  # folded prefix queries per call
BUCKET = 64  # rows given to oneDNN's fused linear layer come in multiples of
# this: it keeps memory for every row count it has seen
PACK_BELOW = 0.94  # pack tokens when real / padded is below this (the
# index copies cost about what 6% of padding does)
GELU = math.sqrt(2.0 / math.pi)
FLASH_CPU = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
FUSED = torch.backends.mkldnn.is_available() and hasattr(
    torch.ops.mkldnn, "_linear_pointwise")


def supported(network):
    """Whether this forward computes exactly what the network's own does."""
    config = network.config
    return (config.model_type == "gpt2"
            and config.activation_function == "gelu_new"
            and config.scale_attn_weights
            and not config.scale_attn_by_inverse_layer_idx
            and not config.reorder_and_upcast_attn
            and not config.add_cross_attention)


def gelu_new_(x):
    """GPT-2's tanh GELU, in place, in the order of operations of
    ``transformers.activations.NewGELUActivation``."""
    cube = x.pow(3.0)
    cube.mul_(0.044715).add_(x).mul_(GELU).tanh_().add_(1.0)
    return x.mul_(0.5).mul_(cube)


@dataclass
class Prefix:
    """Cached keys and values that rows continue.

    ``keys``/``values``: one ``(cached rows, heads, length, head_dim)``
    tensor per layer; ``lengths``: how many first positions each row
    continues (the rest is never attended to); ``sources``: which cached
    row each row continues (default: row i continues cached row i).
    """

    keys: list
    values: list
    lengths: torch.Tensor
    sources: torch.Tensor = None

    def source_of_rows(self):
        if self.sources is None:
            return torch.arange(len(self.lengths), device=self.lengths.device)
        return self.sources


def hidden_states(transformer, ids, prefix=None, keep_cache=False,
                  lengths=None, received=None):
    """Last hidden states of ``ids`` (right-padded rows); with ``prefix``
    the ids continue each row's cached prefix (positions start at its
    length). With ``keep_cache`` also return the ``Prefix`` of these ids.

    ``lengths`` (each row's real tokens) lets the projections and the
    feed-forward half skip the padding: they run on the real tokens only,
    and only attention sees the rows padded, in groups of rows of similar
    length (each padded to its own longest). The output at padded
    positions is meaningless.

    ``received``, a list, gets one ``(rows, n)`` tensor per layer: the
    attention each position receives, averaged over heads and summed over
    the real queries (``transformers``' attention weights, without
    keeping them).
    """
    rows, n = ids.shape
    start = (torch.zeros(rows, dtype=torch.long, device=ids.device)
             if prefix is None else prefix.lengths)
    # Padding after a long prefix may run past the last position: it is
    # never read, so it takes the last position's embedding.
    positions = (start[:, None] + torch.arange(n, device=ids.device)).clamp_(
        max=transformer.wpe.num_embeddings - 1)
    layout = Layout(rows, n, lengths)
    real = None if received is None else (
        torch.arange(n, device=ids.device)[None, :]
        < (torch.full((rows,), n, device=ids.device) if lengths is None
           else lengths.to(ids.device))[:, None])
    x = transformer.wte(layout.pack(ids)) + transformer.wpe(
        layout.pack(positions))
    seen = None
    if prefix is not None:
        seen = (Fold(layout, prefix, lengths, x.dtype)
                if ids.device.type == "cpu" else
                (prefix.source_of_rows(), torch.arange(
                    prefix.keys[0].shape[2], device=ids.device)[None, :]
                 < prefix.lengths[:, None]))
    keys, values = [], []
    for layer, block in enumerate(transformer.h):
        past = None if prefix is None else (prefix.keys[layer],
                                            prefix.values[layer])
        key, value = _block(block, x, layout, past, seen, real, received)
        if keep_cache:  # a copy: the layout reuses its buffer
            keys.append(key.contiguous())
            values.append(value.contiguous())
    out = layout.unpack(transformer.ln_f(x))
    if keep_cache:
        return out, Prefix(keys, values,
                           torch.full((rows,), n, device=ids.device))
    return out


class Layout:
    """Where the real tokens of right-padded rows are.

    Tokens travel packed (one row per real token) through everything that
    works token by token, and padded (``rows x n``) through attention.
    """

    def __init__(self, rows, n, lengths):
        self.rows, self.n = rows, n
        self.index = self.buffer = None
        self.groups = [(0, rows, n)]
        if lengths is None:
            return
        if int(lengths.sum()) < PACK_BELOW * rows * n:
            real = torch.arange(n, device=lengths.device)[None, :] \
                < lengths[:, None]
            self.index = real.view(-1).nonzero().squeeze(1)
            # Only packed tokens leave attention: padding may be skipped.
            self.groups = _row_groups(lengths.tolist())

    def pack(self, padded):
        """``(rows, n, ...)`` -> ``(tokens, ...)``."""
        flat = padded.reshape(self.rows * self.n, *padded.shape[2:])
        if self.index is None:
            return flat
        return flat.index_select(0, self.index)

    def unpack(self, packed, into=None):
        """``(tokens, width)`` -> ``(rows, n, width)``, zero at padding
        (written into ``into``, a zeroed ``(rows * n, width)`` buffer whose
        padding stays zero, when given)."""
        if self.index is None:
            return packed.view(self.rows, self.n, -1)
        if into is None:
            into = packed.new_zeros(self.rows * self.n, packed.shape[1])
        return into.index_copy_(0, self.index, packed).view(
            self.rows, self.n, -1)

    def padded(self, packed):
        """``unpack`` into one buffer reused by every layer."""
        if self.index is not None and self.buffer is None:
            self.buffer = packed.new_zeros(self.rows * self.n,
                                           packed.shape[1])
        return self.unpack(packed, self.buffer)


def _row_groups(lengths):
    """``(first, last, length)`` runs of consecutive rows whose attention
    is padded to the run's longest: a new run starts where a row is
    shorter than ``SPREAD`` of the run's longest and ``GAP`` tokens
    shorter."""
    groups, first, longest = [], 0, lengths[0]
    for row in range(1, len(lengths)):
        if lengths[row] < min(SPREAD * longest, longest - GAP + 1):
            groups.append((first, row, longest))
            first, longest = row, lengths[row]
        else:
            longest = max(longest, lengths[row])
    return groups + [(first, len(lengths), longest)]


def _block(block, x, layout, past, seen, real=None, received=None):
    """One transformer block on the packed tokens ``x`` in place; returns
    its new keys and values ``(rows, heads, n, head_dim)``. With
    ``received`` its attention's column sums over the ``real`` queries
    are appended to it."""
    attention = block.attn
    width = x.shape[1]
    heads = attention.num_heads
    qkv = layout.padded(_projection(attention.c_attn)(block.ln_1(x))).view(
        layout.rows, layout.n, 3, heads, -1)
    query, key, value = qkv.permute(2, 0, 3, 1, 4)
    if received is not None:
        mixed = _like(query)
        columns = query.new_zeros(layout.rows, layout.n)
        for first, last, length in layout.groups:
            part = (slice(first, last), slice(None), slice(None, length))
            _attend_received(query[part], key[part], value[part],
                             real[first:last, :length], mixed[part],
                             columns[first:last, :length])
        received.append(columns)
    elif past is None and len(layout.groups) == 1:
        mixed = _attend(query, key, value, None)
    elif past is None:
        mixed = _like(query)
        for first, last, length in layout.groups:
            part = (slice(first, last), slice(None), slice(None, length))
            _attend(query[part], key[part], value[part], None, mixed[part])
    elif x.device.type == "cpu":
        mixed = _two_part(query, key, value, past, seen, layout.groups)
    else:
        sources, valid = seen
        mixed = _attend(query, torch.cat([past[0][sources], key], 2),
                        torch.cat([past[1][sources], value], 2), valid)
    _add_projection(x, attention.c_proj, layout.pack(
        mixed.transpose(1, 2).reshape(layout.rows, layout.n, width)))
    mlp = block.mlp
    expand = _expansion(mlp.c_fc)
    for first in range(0, len(x), ROWS):
        chunk = x[first:first + ROWS]
        _add_projection(chunk, mlp.c_proj, expand(block.ln_2(chunk)))
    return key, value


def _projection(layer):
    """``layer`` as one oneDNN call with the bias added in its epilogue
    where it is GPT-2's float32 ``Conv1D`` on the CPU."""
    if _fusable(layer):
        return _fused(layer, "none", "")
    return layer


def _expansion(layer):
    """``gelu_new(layer(x))`` as one call: oneDNN's linear layer with the
    tanh GELU in its epilogue where PyTorch has it (the same function;
    the results differ from the separate steps by rounding, < 1e-6),
    else the separate steps."""
    if _fusable(layer):
        return _fused(layer, "gelu", "tanh")
    return lambda x: gelu_new_(layer(x))


def _fused(layer, activation, algorithm):
    """oneDNN's linear layer with ``activation`` in its epilogue, given
    rows padded to a multiple of ``BUCKET`` (a bounded set of shapes)."""
    weight = _transposed(layer)

    def run(x):
        extra = -len(x) % BUCKET
        return torch.ops.mkldnn._linear_pointwise(
            F.pad(x, (0, 0, 0, extra)) if extra else x, weight, layer.bias,
            activation, [], algorithm)[:len(x)]
    return run


def _fusable(layer):
    """Whether oneDNN's linear layer can run this layer (float32 ``Conv1D``
    on the CPU, in a PyTorch that has the call)."""
    return (FUSED and isinstance(layer, Conv1D)
            and layer.weight.device.type == "cpu"
            and layer.weight.dtype == torch.float32)


_TRANSPOSED = weakref.WeakKeyDictionary()


def _transposed(layer):
    """The layer's weight transposed and contiguous, copied once per
    version of the weight (training changes it in place, which bumps its
    version)."""
    weight = layer.weight
    key = (weight.data_ptr(), weight._version)
    cached = _TRANSPOSED.get(layer)
    if cached is None or cached[0] != key:
        cached = _TRANSPOSED[layer] = (key, weight.detach().t().contiguous())
    return cached[1]


def _add_projection(out, layer, inputs):
    """``out += layer(inputs)``: the projection is computed whole before
    it joins the residual stream (GPT-2's residuals reach thousands; a
    GEMM accumulating into them would round at their scale once per
    block of the inner dimension)."""
    out += _projection(layer)(inputs)


def _attend(query, key, value, valid, out=None):
    """Causal attention of the last ``n`` key positions' queries (into
    ``out`` when given); ``valid`` ``(rows, prefix)`` marks the real
    positions of a cached prefix."""
    n = query.shape[2]
    width = key.shape[2] - n
    if valid is None and n <= QUERIES:
        mixed = F.scaled_dot_product_attention(query, key, value,
                                               is_causal=True)
        return mixed if out is None else out.copy_(mixed)
    out = _like(query) if out is None else out
    for first in range(0, n, QUERIES):
        last = min(n, first + QUERIES)
        mask = torch.ones(last - first, width + last, dtype=torch.bool,
                          device=query.device).tril(width + first)
        if valid is not None:
            mask = mask & F.pad(
                valid, (0, last), value=True)[:, None, None, :]
        out[:, :, first:last] = F.scaled_dot_product_attention(
            query[:, :, first:last], key[:, :, :width + last],
            value[:, :, :width + last], attn_mask=mask)
    return out


def _attend_received(query, key, value, real, out, columns):
    """Causal attention into ``out`` as ``transformers``' eager GPT-2
    attention computes it (its weights explicit), in blocks of query
    positions that see only the keys up to them; adds the weights' column
    sums over the ``real`` queries, averaged over heads, to ``columns``."""
    rows, heads, n, size = query.shape
    scale = torch.full([], size ** 0.5, dtype=query.dtype,
                       device=query.device)
    for first in range(0, n, QUERIES):
        last = min(n, first + QUERIES)
        weights = torch.matmul(query[:, :, first:last],
                               key[:, :, :last].transpose(-1, -2)).div_(scale)
        weights.masked_fill_(torch.ones(
            last - first, last, dtype=torch.bool,
            device=query.device).triu(first + 1), float("-inf"))
        weights = weights.softmax(-1)
        out[:, :, first:last] = torch.matmul(weights, value[:, :, :last])
        queries = real[:, None, first:last].to(query.dtype).div(heads)
        columns[:, :last] += torch.bmm(
            queries.repeat(1, 1, heads),
            weights.view(rows, heads * (last - first), last)).squeeze(1)


def _two_part(query, key, value, past, fold, groups):
    """Attention over a cached prefix and the new positions, without
    joining their keys: one pass over the prefix (``Fold``), one causal
    pass over the new positions (per group of rows), merged by their
    log-sum-exps (CPU kernel)."""
    old, old_lse = fold.attend(query, *past)
    new, new_lse = _like(query), query.new_zeros(query.shape[:3])
    for first, last, length in groups:
        part = (slice(first, last), slice(None), slice(None, length))
        _causal_with_lse(query[part], key[part], value[part],
                         (new[part], new_lse[part]))
    # The prefix's share of the total weight: exp(old) / (exp(old) +
    # exp(new)) of the log-sum-exps.
    return new.lerp_(old, old_lse.sub_(new_lse).sigmoid_()[..., None])


class Fold:
    """The queries of all rows that continue one cached row, as one long
    query sequence per cached row (a few large kernel blocks instead of
    many small ones; no padded queries). Each query sees the first
    ``lengths`` cached positions of its own row (an additive mask)."""

    def __init__(self, layout, prefix, lengths, dtype):
        rows, n = layout.rows, layout.n
        lengths = (torch.full((rows,), n) if lengths is None
                   else lengths.cpu())
        sources = prefix.source_of_rows().cpu()
        width = prefix.keys[0].shape[2]
        row, position = (torch.arange(n)[None, :] < lengths[:, None]) \
            .nonzero(as_tuple=True)  # real queries, row by row
        source = sources[row]
        counts = torch.bincount(source, minlength=prefix.keys[0].shape[0])
        self.cached, self.longest = len(counts), int(counts.max())
        order = torch.sort(source, stable=True).indices
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order)) - (
            counts.cumsum(0) - counts)[source[order]]
        slot = source * self.longest + rank
        flat = row * n + position
        self.slots = torch.zeros(self.cached * self.longest,
                                 dtype=torch.long).index_put_((slot,), flat)
        self.back = torch.zeros(rows * n, dtype=torch.long).index_put_(
            (flat,), slot)
        # Unused slots see the first cached position (no all -inf rows).
        sees = torch.ones(self.cached * self.longest, dtype=torch.long
                          ).index_put_((slot,), prefix.lengths.cpu()[row])
        self.mask = torch.zeros(len(sees), width, dtype=dtype).masked_fill_(
            torch.arange(width)[None, :] >= sees[:, None], float("-inf")
        ).view(self.cached, 1, self.longest, width)
        # Blocks of queries see only the keys up to the most any of them
        # sees (a row's queries come together, and longer tails, which
        # continue shorter prefixes, first).
        sees = sees.view(self.cached, self.longest)
        size = FOLDED if width > FOLDED else self.longest
        self.blocks = [(first, min(first + size, self.longest),
                        int(sees[:, first:first + size].max()))
                       for first in range(0, self.longest, size)]

    def attend(self, query, keys, values):
        """Attention of ``query`` ``(rows, heads, n, head_dim)`` to its
        rows' cached keys and values, and its log-sum-exp."""
        rows, heads, n, size = query.shape
        folded = query.transpose(1, 2).reshape(rows * n, heads, size) \
            .index_select(0, self.slots).view(
                self.cached, self.longest, heads, size).transpose(1, 2)
        out, lse = _like(folded), folded.new_empty(folded.shape[:3])
        for first, last, seen in self.blocks:
            out[:, :, first:last], lse[:, :, first:last] = FLASH_CPU(
                folded[:, :, first:last], keys[:, :, :seen],
                values[:, :, :seen], 0.0, False,
                attn_mask=self.mask[:, :, first:last, :seen])[:2]
        out = out.transpose(1, 2).reshape(-1, heads, size).index_select(
            0, self.back).view(rows, n, heads, size).transpose(1, 2)
        lse = lse.transpose(1, 2).reshape(-1, heads).index_select(
            0, self.back).view(rows, n, heads).transpose(1, 2)
        return out, lse


def _causal_with_lse(query, key, value, out):
    """Causal attention and its log-sum-exp into ``out``, in blocks of
    query positions that see only the keys up to them (CPU kernel)."""
    n = query.shape[2]
    for first in range(0, n, QUERIES):
        last = min(n, first + QUERIES)
        mask = None if last <= QUERIES else torch.zeros(
            last - first, last, dtype=query.dtype).masked_fill(
            torch.ones(last - first, last, dtype=torch.bool).triu(first + 1),
            float("-inf"))
        out[0][:, :, first:last], out[1][:, :, first:last] = FLASH_CPU(
            query[:, :, first:last], key[:, :, :last], value[:, :, :last],
            0.0, mask is None, attn_mask=mask)[:2]


def _like(query):
    """An output like ``query`` laid out as ``(rows, n, heads, head_dim)``
    (the attention kernel's own layout, which the projection reads)."""
    rows, heads, n, size = query.shape
    return query.new_empty(rows, n, heads, size).transpose(1, 2)
