"""Convert the published MGM weights into q2-mgm package data.

Reads the ``microformer-mgm==0.5.8`` wheel (MIT licence) without installing
it and without unpickling: ``pytorch_model.bin`` is read with
``torch.load(weights_only=True)``. Writes ``config.json``,
``model.safetensors``, ``vocabulary.txt``, ``normalization.tsv``,
``manifest.json``, ``SHA256SUMS`` and the licence notice.

    python scripts/convert_weights.py [--wheel PATH] [--out q2_mgm/pretrained]

Without ``--wheel`` the wheel is fetched with ``pip download --no-deps``.
"""
import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import torch
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from q2_mgm.mgm import model as mgm_model  # noqa: E402
from q2_mgm.mgm.vocabulary import SPECIAL_TOKENS, Vocabulary  # noqa: E402

PACKAGE, VERSION = "microformer-mgm", "0.5.8"
RESOURCES = "mgm/resources/"
GPT2_KEYS = ("activation_function", "attn_pdrop", "bos_token_id",
             "embd_pdrop", "eos_token_id", "initializer_range",
             "layer_norm_epsilon", "n_embd", "n_head", "n_inner", "n_layer",
             "n_positions", "pad_token_id", "resid_pdrop",
             "scale_attn_by_inverse_layer_idx", "scale_attn_weights",
             "vocab_size", "reorder_and_upcast_attn")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def download_wheel(directory):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                    "-q", "-d", str(directory), f"{PACKAGE}=={VERSION}"],
                   check=True)
    return next(Path(directory).glob("microformer_mgm-*.whl"))


def published_state_dict(wheel):
    """The published state dict, read without executing any pickle code."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(RESOURCES + "general_model/pytorch_model.bin")
    state = torch.load(io.BytesIO(raw), map_location="cpu",
                       weights_only=True)
    return ({k: v for k, v in state.items()
             if not mgm_model.is_mask_buffer(k)},
            sha256(raw))


def published_network(wheel):
    """GPT2LMHeadModel holding the published weights (for parity checks)."""
    with zipfile.ZipFile(wheel) as archive:
        published = json.loads(
            archive.read(RESOURCES + "general_model/config.json"))
    config = GPT2Config(**{k: published[k] for k in GPT2_KEYS})
    network = GPT2LMHeadModel(config)
    state, digest = published_state_dict(wheel)
    expected = {k for k in network.state_dict()
                if not mgm_model.is_mask_buffer(k)}
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise SystemExit(f"published weights: missing {sorted(missing)}, "
                         f"unexpected {sorted(unexpected)}")
    network.load_state_dict(state, strict=False)
    return network.eval(), digest


def convert(wheel, out):
    out = Path(out)
    network, bin_digest = published_network(wheel)
    with zipfile.ZipFile(wheel) as archive:
        phylogeny = pd.read_csv(
            io.BytesIO(archive.read(RESOURCES + "phylogeny.csv")),
            index_col=0)
        licence = next(archive.read(n).decode() for n in archive.namelist()
                       if n.endswith("dist-info/LICENSE"))
    vocabulary = Vocabulary(SPECIAL_TOKENS + tuple(phylogeny.index),
                            phylogeny["mean"].to_numpy(float),
                            phylogeny["std"].to_numpy(float))
    manifest = {
        "kind": "pretrained",
        "labels": [],
        "max_length": 512,
        "pooling": "mean",
        "source": {
            "package": f"{PACKAGE}=={VERSION}",
            "wheel_sha256": sha256(Path(wheel).read_bytes()),
            "pytorch_model_bin_sha256": bin_digest,
            "corpus": "Microcorpus-260K: 263,302 MGnify samples",
            "licence": "MIT, Copyright (c) 2024 NingLab",
        },
        "parameters": {},
        "history": [],
    }
    mgm_model.save(mgm_model.MGMModel(network, vocabulary, manifest), out)
    (out / "LICENSE").write_text(
        "The MGM weights, vocabulary and normalization table in this folder "
        f"were converted from {PACKAGE} {VERSION} and are distributed under "
        "its licence:\n\n" + licence)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help="path to the microformer-mgm wheel")
    parser.add_argument("--out", default=str(
        Path(__file__).resolve().parents[1] / "q2_mgm" / "pretrained"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(tmp)
        print(convert(wheel, args.out))


if __name__ == "__main__":
    main()
