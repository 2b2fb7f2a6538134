"""Checkpoints of a training run, to resume it exactly where it stopped.

A checkpoint is a folder ``step-000000120`` (optimizer steps done) in the
run's checkpoint directory, without any pickle:

- ``network.safetensors``: the weights;
- ``optimizer.safetensors``: AdamW's moments and step counts;
- ``best.safetensors``: the best epoch's weights so far (once there is one);
- ``rng.safetensors``: every process's torch random state (``cpu.RANK``,
  and ``cuda.RANK`` on GPUs), which draws the dropout masks;
- ``state.json``: the rest: what the run is (settings, number of processes,
  a digest of the corpus and of its split), where it is (epoch, batches
  done in it, steps, history, early-stopping counters), the batch
  shuffler's state at the epoch's start (numpy's bit generator state), the
  optimizer's hyper-parameters and the learning-rate schedule's position;
- ``SHA256SUMS``: the digests of the other files.

A checkpoint is written by rank 0 under a temporary name and renamed when
complete, so an interruption while writing leaves the previous one; older
ones are then removed. Every process resumes from the latest, so the
directory must be one that every node sees.
"""
import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from .model import file_digest

log = logging.getLogger("q2_mgm")
FORMAT = "q2-mgm training checkpoint"
FORMAT_VERSION = 1
PREFIX = "step-"
# What state.json keeps of a ``training.Run``.
PROGRESS = ("epoch", "batches_done", "step", "losses", "history",
            "best_loss", "waited", "stopped", "shuffle_state")
# Settings with no bearing on which batches and draws come next.
UNBOUND = ("device", "threads")


class CheckpointError(ValueError):
    """A checkpoint that is damaged or belongs to another run."""


def identity(settings, processes, sentences, train_positions,
             validation_positions):
    """What a checkpoint must share with the run that resumes from it."""
    digest = hashlib.sha256()
    for array in (sentences.tokens, sentences.offsets, train_positions,
                  validation_positions):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    bound = {k: v for k, v in settings.as_dict().items()
             if k not in UNBOUND}
    return {**bound, "processes": processes,
            "corpus and split (SHA-256)": digest.hexdigest()}


def optimizer_parts(optimizer):
    """An optimizer's state: tensors ``INDEX.NAME`` and JSON groups."""
    state = optimizer.state_dict()
    tensors = {f"{index}.{name}": value
               for index, values in state["state"].items()
               for name, value in values.items()}
    return tensors, state["param_groups"]


def load_optimizer(optimizer, tensors, groups):
    """The inverse of ``optimizer_parts``."""
    state = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    groups = [{**group, "betas": tuple(group["betas"])} for group in groups]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def random_states(run):
    """Every process's torch random state, gathered (all ranks call it)."""
    local = {"cpu": torch.get_rng_state()}
    if run.device.type == "cuda":
        local["cuda"] = torch.cuda.get_rng_state(run.device)
    return {f"{kind}.{rank}": state for kind, tensor in local.items()
            for rank, state in enumerate(run.ranks.gather(tensor))}


def differences(saved, current):
    return [f"{key} {saved.get(key)!r} there, {value!r} here"
            for key, value in current.items() if saved.get(key) != value]


class Checkpoints:
    """A run's checkpoint directory and how often it is written to."""

    def __init__(self, directory, every=0):
        self.directory = Path(directory)
        self.every = every  # optimizer steps; 0: at epoch ends only
        self.identity = None

    def due(self, step):
        return self.every > 0 and step % self.every == 0

    def latest(self):
        """The newest complete checkpoint, or None."""
        found = sorted(self.directory.glob(PREFIX + "*"))
        return found[-1] if found else None

    def start(self, run, settings, sentences, train_positions,
              validation_positions):
        """Bind to a run, and resume it from the latest checkpoint, if
        any."""
        self.identity = identity(settings, run.ranks.size, sentences,
                                 train_positions, validation_positions)
        path = self.latest()
        if path is None:
            return
        tensors, state = read(path)
        differ = differences(state["identity"], self.identity)
        if differ:
            raise CheckpointError(
                f"The checkpoint {path} belongs to another run ("
                f"{'; '.join(differ)}). Resume with the same inputs, "
                "settings and number of processes, or give another "
                "checkpoint directory to start afresh.")
        rng, rank = tensors["rng"], run.ranks.rank
        try:
            run.network.load_state_dict(tensors["network"])
            load_optimizer(run.optimizer, tensors["optimizer"],
                           state["optimizer"])
            run.scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(rng[f"cpu.{rank}"])
            if run.device.type == "cuda" and f"cuda.{rank}" in rng:
                torch.cuda.set_rng_state(rng[f"cuda.{rank}"], run.device)
            for name in PROGRESS:
                setattr(run, name, state["progress"][name])
            run.shuffler.bit_generator.state = run.shuffle_state
        except (KeyError, RuntimeError, TypeError, ValueError) as error:
            raise CheckpointError(
                f"The checkpoint {path} does not fit this run ({error}). "
                "Give another checkpoint directory to start afresh.") \
                from error
        run.best_state = tensors.get("best")
        if rank == 0:
            log.info("Resuming from %s: epoch %d, %d of its batches done.",
                     path, run.epoch, run.batches_done)

    def save(self, run):
        """Write the run's state (every process calls it; rank 0
        writes)."""
        rng = random_states(run)
        if run.ranks.rank != 0:
            return
        moments, groups = optimizer_parts(run.optimizer)
        tensors = {"network": run.network.state_dict(),
                   "optimizer": moments, "rng": rng}
        if run.best_state is not None:
            tensors["best"] = run.best_state
        self.write(run.step, tensors, {
            "identity": self.identity,
            "progress": {name: getattr(run, name) for name in PROGRESS},
            "optimizer": groups, "scheduler": run.scheduler.state_dict()})

    def write(self, step, tensors, state):
        """Checkpoint ``step``: ``tensors`` maps a file's stem to tensors,
        ``state`` is JSON."""
        final = self.directory / f"{PREFIX}{step:09d}"
        partial = self.directory / f".partial-{final.name}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for stem, values in tensors.items():
            # Copies: tied weights share memory, which safetensors refuses.
            safetensors.torch.save_file(
                {k: v.detach().to("cpu", copy=True).contiguous()
                 for k, v in values.items()},
                str(partial / f"{stem}.safetensors"))
        (partial / "state.json").write_text(json.dumps(
            {"format": FORMAT, "format_version": FORMAT_VERSION, **state},
            indent=1, allow_nan=False) + "\n")
        (partial / "SHA256SUMS").write_text("".join(
            f"{file_digest(path)}  {path.name}\n"
            for path in sorted(partial.iterdir())))
        partial.rename(final)
        for older in self.directory.glob(PREFIX + "*"):
            if older != final:
                shutil.rmtree(older)


def read(path):
    """Tensors (by file stem) and state of a checkpoint, checked against
    its SHA256SUMS."""
    try:
        listed = {}
        for line in (path / "SHA256SUMS").read_text().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        for name in ("state.json", "network.safetensors",
                     "optimizer.safetensors", "rng.safetensors"):
            if name not in listed:
                raise ValueError(f"{name} is missing")
        for name, digest in listed.items():
            if file_digest(path / name) != digest:
                raise ValueError(f"{name} does not match its checksum")
        state = json.loads((path / "state.json").read_text())
        if state.get("format") != FORMAT \
                or state.get("format_version") != FORMAT_VERSION:
            raise ValueError("state.json is not a q2-mgm checkpoint of "
                             f"version {FORMAT_VERSION}")
        tensors = {name[:-len(".safetensors")]:
                   safetensors.torch.load_file(str(path / name))
                   for name in listed if name.endswith(".safetensors")}
    except Exception as error:  # OSError, ValueError, safetensors' errors
        raise CheckpointError(
            f"The checkpoint {path} is damaged: {error}. Delete it to "
            "start the run afresh (or from an older checkpoint left "
            "beside it), or give another checkpoint directory.") from error
    return tensors, state
