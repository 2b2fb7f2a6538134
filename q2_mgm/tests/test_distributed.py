"""Data-parallel pre-training for real: torchrun, 2 processes, CPU, gloo.

The corpus, 37 mouse samples, gives 33 training samples: with batches of
8, the last batch of each epoch has one sample, so one process has no
share of it and joins the gradient reduction with a sentence weighted 0.
The start model has no dropout, so that two processes can draw the same
as one; restoring dropout's random state on resuming is tested on one
process, with dropout.
"""
import json
import subprocess
import sys

import biom
import pandas as pd
import pytest
import qiime2
import safetensors.torch
import torch

from .. import distributed_pretraining
from ..mgm import model as mgm_model
from ..mgm import pretraining
from ..mgm.checkpoints import CheckpointError, Checkpoints
from ..mgm.training import TrainingSettings
from ..plugin.examples import example_path
from . import _data

DIET_MODEL = example_path("mouse-diet-model.qza")  # dropout 0.1
SETTINGS = ["--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-3",
            "--device", "cpu", "--gradient-accumulation", "2"]
# Run by torchrun instead of the module: the process kills itself (SIGKILL,
# as a crash would) on entering optimizer step KILL_AT, before that step
# is checkpointed.
KILL_AT = 8
INTERRUPTED = f"""
import os
import signal
import sys

import torch

from q2_mgm import distributed_pretraining

step = torch.optim.AdamW.step
steps = 0


def step_or_die(self, *args, **kwargs):
    global steps
    steps += 1
    if steps == {KILL_AT}:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *args, **kwargs)


torch.optim.AdamW.step = step_or_die
distributed_pretraining.main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The corpus, and the diet model without dropout."""
    folder = tmp_path_factory.mktemp("inputs")
    _data.example_table(37).save(str(folder / "table.qza"))
    _data.example_taxonomy().save(str(folder / "taxonomy.qza"))
    start = qiime2.Artifact.load(DIET_MODEL).view(mgm_model.MGMModel)
    for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
        setattr(start.network.config, key, 0.0)
    mgm_model.save(start, folder / "no-dropout")
    return folder


def run_arguments(inputs):
    return ["--table", inputs / "table.qza", "--taxonomy",
            inputs / "taxonomy.qza", "--model", inputs / "no-dropout",
            *SETTINGS]


def torchrun(*arguments, script=None, check=True):
    """Run pre-training (or ``script``) on 2 processes under torchrun."""
    target = [script] if script else ["-m", "q2_mgm.distributed_pretraining"]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         "--nproc_per_node=2", *map(str, target + list(arguments))],
        capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-4000:]
    return done


def weights(folder):
    return safetensors.torch.load_file(str(folder / "model.safetensors"))


def history(folder):
    return json.loads((folder / "manifest.json").read_text())["history"]


def largest_difference(first, second):
    return max(float((first[k] - second[k]).abs().max()) for k in first)


@pytest.fixture(scope="module")
def two_processes(inputs, tmp_path_factory):
    """2 processes, each splitting its share into 2 micro-batches."""
    out = tmp_path_factory.mktemp("two")
    torchrun(*run_arguments(inputs), "--output-dir", out / "model",
             "--output-artifact", out / "model.qza")
    return out


def test_two_processes_train_as_one_with_the_same_global_batch(
        inputs, two_processes, tmp_path):
    """Each process's loss is weighted by its share of the batch's
    predicted tokens, so the averaged gradient is the whole batch's. Only
    float rounding differs (summation order, threads): 2.6e-6 at most
    here, where the weights moved by 6.0e-3; averaging the processes' own
    token means instead (DDP's default) differs by 2.4e-3."""
    args = distributed_pretraining.arguments(
        [*map(str, run_arguments(inputs)), "--gradient-accumulation", "1",
         "--threads", "1", "--output-dir", str(tmp_path / "one")])
    distributed_pretraining.pretrain(args, "cpu", 0, 1, None)
    one, two = weights(tmp_path / "one"), weights(two_processes / "model")
    start = weights(inputs / "no-dropout")
    assert largest_difference(one, start) > 1e-3
    assert largest_difference(one, two) < 1e-4
    for first, second in zip(history(tmp_path / "one"),
                             history(two_processes / "model")):
        assert first.keys() == second.keys()
        for key in ("train_loss", "validation_loss"):
            assert first[key] == pytest.approx(second[key], rel=1e-5)


def test_the_result_is_an_mgm_model_the_plugin_imports(two_processes):
    folder = two_processes / "model"
    model = mgm_model.load(folder)  # the strict loader
    assert model.kind == "pretrained"
    assert model.manifest["parameters"]["processes"] == 2
    assert model.manifest["parameters"]["gradient_accumulation"] == 2
    imported = qiime2.Artifact.import_data("MGMModel[Pretrained]",
                                           str(folder))
    written = qiime2.Artifact.load(str(two_processes / "model.qza"))
    assert str(written.type) == str(imported.type) == "MGMModel[Pretrained]"
    loaded = written.view(mgm_model.MGMModel).network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in weights(folder).items())


def test_an_interrupted_run_resumes_to_the_same_model(inputs, two_processes,
                                                      tmp_path):
    """Killed in step 8, resumed from step 6: the uninterrupted run's
    model and history, bit for bit."""
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED)
    resumable = [*run_arguments(inputs), "--output-dir", tmp_path / "resumed",
                 "--checkpoint-dir", tmp_path / "checkpoints",
                 "--checkpoint-every", "3"]
    killed = torchrun(*resumable, script=script, check=False)
    assert killed.returncode != 0
    # Checkpoints at steps 3, 5 (epoch 1's end) and 6; only the last kept.
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == [
        "step-000000006"]
    resumed = torchrun(*resumable)
    assert "epoch 2, 1 of its batches done" in resumed.stderr
    whole = weights(two_processes / "model")
    again = weights(tmp_path / "resumed")
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    assert history(two_processes / "model") == history(tmp_path / "resumed")
    # The last checkpoint holds each process's own random state.
    rng = safetensors.torch.load_file(str(
        tmp_path / "checkpoints" / "step-000000010" / "rng.safetensors"))
    assert sorted(rng) == ["cpu.0", "cpu.1"]
    assert not torch.equal(rng["cpu.0"], rng["cpu.1"])


# One process, in this one (one thread, as each of torchrun's above):
# checkpoints, accumulation, errors.

@pytest.fixture(scope="module")
def corpus():
    """Start model (with dropout), table and taxonomy."""
    return (qiime2.Artifact.load(DIET_MODEL).view(mgm_model.MGMModel),
            _data.example_table(37).view(biom.Table),
            _data.example_taxonomy().view(pd.Series))


def pretrained(corpus, checkpoints=None, **settings):
    settings = TrainingSettings(**{
        "epochs": 2, "batch_size": 8, "device": "cpu", "threads": 1,
        **settings})
    return pretraining.pretrain_model(*corpus, settings=settings,
                                      checkpoints=checkpoints)


def test_gradient_accumulation_gives_the_same_gradient(inputs, corpus):
    """Micro-batches weighted by their tokens: the same steps, up to
    rounding."""
    start = mgm_model.load(inputs / "no-dropout")

    def trained(accumulation):
        settings = TrainingSettings(epochs=1, batch_size=8, device="cpu",
                                    threads=1,
                                    gradient_accumulation=accumulation)
        model = pretraining.pretrain_model(start, *corpus[1:],
                                           settings=settings)
        return model.network.state_dict()
    assert largest_difference(trained(1), trained(3)) < 1e-5


class Interrupted(Exception):
    pass


def test_checkpoints_resume_a_single_process_exactly(corpus, tmp_path,
                                                     monkeypatch):
    """Interrupted in step 8 (of 5 per epoch), resumed from step 6: the
    dropout masks and the epoch's batches are drawn as uninterrupted."""
    whole = pretrained(corpus)
    step = torch.optim.AdamW.step
    steps = []

    def step_or_stop(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == KILL_AT:
            raise Interrupted
        return step(self, *args, **kwargs)
    monkeypatch.setattr(torch.optim.AdamW, "step", step_or_stop)
    checkpoints = Checkpoints(tmp_path, every=3)
    with pytest.raises(Interrupted):
        pretrained(corpus, checkpoints)
    monkeypatch.undo()
    assert checkpoints.latest().name == "step-000000006"
    resumed = pretrained(corpus, checkpoints)
    assert resumed.manifest["history"] == whole.manifest["history"]
    first, second = (m.network.state_dict() for m in (whole, resumed))
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_a_checkpoint_of_another_run_is_refused(corpus, tmp_path):
    checkpoints = Checkpoints(tmp_path)
    pretrained(corpus, checkpoints, epochs=1)
    with pytest.raises(CheckpointError, match="belongs to another run.*"
                       "batch_size 8 there, 4 here"):
        pretrained(corpus, checkpoints, epochs=1, batch_size=4)


def test_a_damaged_checkpoint_is_refused(corpus, tmp_path):
    checkpoints = Checkpoints(tmp_path)
    pretrained(corpus, checkpoints, epochs=1)
    path = checkpoints.latest() / "optimizer.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="is damaged: optimizer."
                       "safetensors does not match its checksum"):
        pretrained(corpus, checkpoints, epochs=1)


def test_an_unfinished_checkpoint_is_never_read(tmp_path):
    (tmp_path / ".partial-step-000000009").mkdir()
    (tmp_path / "step-000000004").mkdir()
    assert Checkpoints(tmp_path).latest().name == "step-000000004"
    assert Checkpoints(tmp_path / "none").latest() is None
