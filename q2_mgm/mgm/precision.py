"""Lower-precision copies of a network for faster inference (opt-in).

``float32`` is the published arithmetic. ``bfloat16`` runs every layer in
bfloat16 (fast on GPUs and on CPUs with AMX or AVX512-BF16 units),
``float16`` in half precision (GPU only), ``int8`` quantizes the weight
matrices of the transformer blocks to 8-bit integers and their inputs on
the fly (PyTorch dynamic quantization, CPU only; GPT-2's ``Conv1D`` layers
become ``Linear`` first). bench/precision.py measures the speed and the
deviation from float32 of each.
"""
import copy
import warnings

import torch
from transformers.pytorch_utils import Conv1D

PRECISIONS = ("float32", "bfloat16", "float16", "int8")
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def lowered(network, precision, device):
    """The network to run at ``precision`` on ``device``: the network
    itself for float32, else a converted copy."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of "
                         f"{', '.join(PRECISIONS)}.")
    if precision == "float32":
        return network
    if precision == "int8":
        if device.type != "cpu":
            raise ValueError("precision='int8' is CPU-only (dynamic "
                             "quantization); on a GPU use 'bfloat16' or "
                             "'float16'.")
        network = copy.deepcopy(network).cpu()
        with warnings.catch_warnings():  # PyTorch's notice of a future API
            warnings.simplefilter("ignore", UserWarning)
            for block in network.transformer.h:
                as_linear(block)
                torch.ao.quantization.quantize_dynamic(
                    block, {torch.nn.Linear}, dtype=torch.qint8,
                    inplace=True)
        return network
    if precision == "float16" and device.type != "cuda":
        raise ValueError("precision='float16' needs a CUDA GPU; on the CPU "
                         "use 'bfloat16' or 'int8'.")
    return copy.deepcopy(network).to(device=device, dtype=DTYPES[precision])


def as_linear(module):
    """Replace every ``Conv1D`` under ``module`` by the equal ``Linear``."""
    for name, child in module.named_children():
        if isinstance(child, Conv1D):
            linear = torch.nn.Linear(child.weight.shape[0], child.nf)
            linear.weight.data = child.weight.data.t().contiguous()
            linear.bias.data = child.bias.data
            setattr(module, name, linear)
        else:
            as_linear(child)
