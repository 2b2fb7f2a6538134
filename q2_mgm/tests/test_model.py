"""The packaged weights, model directories and their validation."""
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest
import qiime2
import safetensors.torch
import torch

from ..mgm import model as mgm_model
from . import _data

REPO = Path(__file__).resolve().parents[2]
CONVERTER = REPO / "scripts" / "convert_weights.py"
# `make test` downloads the published wheel (pip download --no-deps
# microformer-mgm==0.5.8) and points this variable at it.
WHEEL = os.environ.get("Q2_MGM_PUBLISHED_WHEEL")
needs_wheel = pytest.mark.skipif(
    not (WHEEL and Path(WHEEL).is_file() and CONVERTER.is_file()),
    reason="set Q2_MGM_PUBLISHED_WHEEL to the microformer-mgm 0.5.8 wheel "
           "(`make test` does) to compare with the published weights")


def converter():
    spec = importlib.util.spec_from_file_location("convert_weights",
                                                  CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_wheel
def test_conversion_is_reproducible(tmp_path):
    converter().convert(WHEEL, tmp_path)
    packaged = mgm_model.packaged_model_path() / "SHA256SUMS"
    assert (tmp_path / "SHA256SUMS").read_text() == packaged.read_text()


def test_mask_buffers_are_the_only_names_left_out():
    assert mgm_model.is_mask_buffer("transformer.h.3.attn.bias")
    assert mgm_model.is_mask_buffer("transformer.h.0.attn.masked_bias")
    assert not mgm_model.is_mask_buffer("transformer.h.3.attn.c_attn.bias")
    assert not mgm_model.is_mask_buffer("transformer.h.3.attn.c_proj.bias")


def test_packaged_checksums():
    import hashlib
    root = mgm_model.packaged_model_path()
    for line in (root / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() \
            == digest


def test_packaged_model_shape():
    model = _data.pretrained()
    assert model.kind == "pretrained"
    assert len(model.vocabulary) == 9669
    assert model.vocabulary.tokens[:4] == ("<pad>", "<mask>", "<bos>",
                                           "<eos>")
    config = model.network.config
    assert (config.n_layer, config.n_head, config.n_embd,
            config.n_positions) == (8, 8, 256, 512)


@pytest.fixture
def model_dir(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(mgm_model.packaged_model_path(), target)
    return target


def edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def edit_weights(path, change):
    tensors = safetensors.torch.load_file(str(path / "model.safetensors"))
    change(tensors)
    safetensors.torch.save_file(tensors, str(path / "model.safetensors"),
                                metadata={"format": "pt"})


DAMAGE = {
    "missing attention bias": lambda d: edit_weights(
        d, lambda t: t.pop("transformer.h.0.attn.c_attn.bias")),
    "unexpected tensor": lambda d: edit_weights(
        d, lambda t: t.update(extra=torch.zeros(3))),
    "misshapen tensor": lambda d: edit_weights(
        d, lambda t: t.update({"transformer.h.1.mlp.c_fc.bias":
                               torch.zeros(7)})),
    "missing weights": lambda d: (d / "model.safetensors").unlink(),
    "bad manifest json": lambda d: (d / "manifest.json").write_text("{"),
    "unknown kind": lambda d: edit_json(d / "manifest.json", kind="x"),
    "classifier without head": lambda d: edit_json(
        d / "manifest.json", kind="classifier", labels=["a", "b"]),
    "vocabulary too short": lambda d: (d / "vocabulary.txt").write_text(
        "\n".join((d / "vocabulary.txt").read_text().splitlines()[:-1])),
    "config vocab size": lambda d: edit_json(d / "config.json",
                                             vocab_size=10),
    "truncated weights": lambda d: (d / "model.safetensors").write_bytes(
        (d / "model.safetensors").read_bytes()[:1000]),
    "normalization order": lambda d: (d / "normalization.tsv").write_text(
        "genus\tmean\tstd\ng__Zzz\t0.1\t0.1\n"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_model_is_rejected(model_dir, damage):
    (model_dir / "SHA256SUMS").unlink()  # the checks behind the checksums
    DAMAGE[damage](model_dir)
    with pytest.raises(mgm_model.ModelError, match="damaged"):
        mgm_model.load(model_dir)
    with pytest.raises(qiime2.plugin.ValidationError):
        qiime2.Artifact.import_data("MGMModel[Pretrained]", str(model_dir))


def test_save_load_round_trip(tmp_path):
    model = _data.pretrained()
    mgm_model.save(mgm_model.MGMModel(model.network, model.vocabulary,
                                      {**model.manifest, "extra": 1}),
                   tmp_path)
    loaded = mgm_model.load(tmp_path)
    assert loaded.manifest["extra"] == 1
    for name, tensor in model.network.state_dict().items():
        assert torch.equal(tensor, loaded.network.state_dict()[name])


def test_pretrained_model_action_ships_package_files():
    from qiime2.plugins.mgm.actions import pretrained_model
    artifact, = pretrained_model()
    assert str(artifact.type) == "MGMModel[Pretrained]"
    view = artifact.view(mgm_model.MGMModel)
    assert len(view.vocabulary) == 9669


def test_package_folder_imports_with_its_licence():
    artifact = qiime2.Artifact.import_data(
        "MGMModel[Pretrained]", str(mgm_model.packaged_model_path()))
    from ..plugin.formats import MGMModelDirectoryFormat
    folder = artifact.view(MGMModelDirectoryFormat).path
    assert "MIT License" in (folder / "LICENSE").read_text()


def test_max_length_must_fit_positions(model_dir):
    edit_json(model_dir / "manifest.json", max_length=1024)
    with pytest.raises(mgm_model.ModelError, match="max_length"):
        mgm_model.load(model_dir)


def test_validation_split_keeps_training_samples():
    from ..mgm.training import validation_split
    train, validation = validation_split(3, 0.9, 0)
    assert len(train) == 1 and len(validation) == 2
    with pytest.raises(ValueError, match="two samples"):
        validation_split(1, 0.1, 0)


def named_groups(network, *args):
    from ..mgm.training import parameter_groups
    names = {id(p): n for n, p in network.named_parameters()}
    return [({names[id(p)] for p in g["params"]}, g)
            for g in parameter_groups(network, *args)]


def test_weight_decay_spares_biases_and_layer_norms():
    network = _data.pretrained().network
    groups = named_groups(network, 0.001, 1e-4)
    decayed = set().union(*[n for n, g in groups if g["weight_decay"]])
    spared = set().union(*[n for n, g in groups if not g["weight_decay"]])
    assert {g["weight_decay"] for _, g in groups} == {0.001, 0.0}
    assert {g["lr"] for _, g in groups} == {1e-4}
    assert "transformer.h.0.attn.c_attn.weight" in decayed
    assert "transformer.wte.weight" in decayed
    assert {"transformer.h.0.attn.c_attn.bias", "transformer.h.0.ln_1.weight",
            "transformer.ln_f.weight", "transformer.ln_f.bias"} <= spared
    assert decayed.isdisjoint(spared)
    assert len(decayed | spared) == len(list(network.parameters()))


def test_layer_decay_and_frozen_layers():
    import copy
    network = copy.deepcopy(_data.pretrained().network)
    n_layer = network.config.n_layer
    groups = named_groups(network, 0.001, 1.0, 0.5, 2)
    rate = {name: g["lr"] for names, g in groups for name in names}
    # Embeddings and blocks 0-1 are frozen: no gradient, in no group.
    assert "transformer.wte.weight" not in rate
    assert "transformer.h.1.mlp.c_fc.weight" not in rate
    assert not network.transformer.h[1].mlp.c_fc.weight.requires_grad
    assert network.transformer.h[2].mlp.c_fc.weight.requires_grad
    # Block i learns at 0.5 ** (n_layer - i); the final LayerNorm at 1.
    assert rate["transformer.h.2.mlp.c_fc.weight"] == 0.5 ** (n_layer - 2)
    assert rate[f"transformer.h.{n_layer - 1}.ln_1.bias"] == 0.5
    assert rate["transformer.ln_f.weight"] == 1.0


FORMAT_FILES = {
    # format: (a valid file, an invalid one)
    "JSONFormat": ('{"a": 1}', "{"),
    "TokenListFormat": ("<pad>\n<mask>\n", "\n"),
    "NormalizationFormat": ("genus\tmean\tstd\ng__A\t0.1\t0.2\n",
                            "genus\tavg\n"),
    "LicenceFormat": ("MIT License\n", ""),
    "ChecksumsFormat": (f"{'a' * 64}  model.safetensors\n", "abc model\n"),
    "EmbeddingsFormat": ("sample-id\tmgm_1\nS1\t0.5\n",
                         "sample-id\tmgm_1\nS1\tx\n"),
    "GenerationLabelsFormat": ("sample-id\tlabel\nS1\tBK\n",
                               "sample-id\tdiet\nS1\tBK\n"),
}


@pytest.mark.parametrize("name", sorted(FORMAT_FILES))
def test_text_formats_accept_good_and_reject_bad_files(name, tmp_path):
    from ..plugin import formats
    fmt_class = getattr(formats, name)
    good, bad = FORMAT_FILES[name]
    for text, valid in ((good, True), (bad, False)):
        path = tmp_path / f"{name}-{valid}.txt"
        path.write_text(text)
        fmt = fmt_class(str(path), mode="r")
        if valid:
            fmt.validate()
        else:
            with pytest.raises(qiime2.plugin.ValidationError):
                fmt.validate()


@pytest.mark.parametrize("header", [True, False])
def test_embeddings_are_written_as_pandas_writes_them(header):
    """The row-at-a-time writer against pandas' ``to_csv``: the same bytes
    for awkward sample IDs and for extreme, signed-zero and subnormal
    float32 values, which read back exactly."""
    import io

    import numpy as np
    import pandas as pd

    from ..plugin.formats import write_embeddings
    rng = np.random.default_rng(0)
    values = (rng.standard_normal((40, 7)) * rng.choice(
        [1e-8, 1.0, 1e3, 1e7], (40, 7))).astype(np.float32)
    values[0, :4] = [-0.0, 1e-45, 3.4e38, -1.17549435e-38]
    ids = [f"S{i}" for i in range(40)]
    ids[1:6] = ['a"b', "x,y", "a b", "t\tab", "n\nl"]
    vectors = pd.DataFrame(values, index=ids,
                           columns=[f"mgm_{i + 1}" for i in range(7)])
    expected, written = io.StringIO(), io.StringIO()
    vectors.rename_axis("sample-id").to_csv(
        expected, sep="\t", header=header, float_format="%.9g")
    write_embeddings(vectors, written, header=header)
    assert written.getvalue() == expected.getvalue()
    back = pd.read_csv(io.StringIO(written.getvalue()), sep="\t",
                       index_col=0, header=0 if header else None)
    assert np.array_equal(back.to_numpy(np.float32), values)
    assert list(back.index) == ids


def test_safetensors_format(tmp_path):
    from ..plugin.formats import SafetensorsFormat
    good = tmp_path / "good.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, str(good))
    SafetensorsFormat(str(good), mode="r").validate()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\0" * 8)
    with pytest.raises(qiime2.plugin.ValidationError):
        SafetensorsFormat(str(bad), mode="r").validate()


def test_checksums_catch_any_changed_file(model_dir):
    mgm_model.load(model_dir)
    edit_weights(model_dir, lambda t: t["transformer.ln_f.bias"].add_(1e-3))
    with pytest.raises(mgm_model.ModelError, match="model.safetensors does "
                                                   "not match its checksum"):
        mgm_model.load(model_dir)


def test_non_finite_weights_are_rejected(model_dir):
    edit_weights(model_dir, lambda t: t["transformer.h.2.mlp.c_fc.weight"]
                 .__setitem__((0, 0), float("nan")))
    mgm_model.write_checksums(model_dir)  # checksums alone would not tell
    with pytest.raises(mgm_model.ModelError, match="infinite or NaN"):
        mgm_model.load(model_dir)


def test_saved_models_carry_checksums(tmp_path):
    model = _data.pretrained()
    mgm_model.save(model, tmp_path)
    listed = [line.split("  ")[1] for line in
              (tmp_path / "SHA256SUMS").read_text().splitlines()]
    assert listed == list(mgm_model.CHECKED_FILES)
    (tmp_path / "vocabulary.txt").write_text("<pad>\n<mask>\n<bos>\n")
    with pytest.raises(mgm_model.ModelError, match="vocabulary.txt does not"):
        mgm_model.load(tmp_path)
