"""The training loop shared by fine-tuning and pre-training.

AdamW with linear warm-up and linear decay, weight decay sparing biases and
LayerNorm weights, gradients clipped at norm 1 (the published recipe),
shuffled batches of similar length, one validation pass per epoch, early
stopping on validation loss, and the best epoch's weights restored at the
end. Everything random is drawn from ``random_state``, so a CPU run is
reproducible bit for bit.

The same loop runs data-parallel under ``torch.distributed`` (torchrun; see
``q2_mgm.distributed_pretraining``). ``batch_size`` is the global batch of
one optimizer step whatever the number of processes: every process draws
the same batches and trains, through DistributedDataParallel, on its share
of each (every world-size-th sample). Each share's loss is weighted by its
part of what the batch's mean loss is over (``batch_weight``: samples, or
predicted tokens in pre-training), so that the gradient is the one of the
whole batch on one process, up to rounding. ``gradient_accumulation``
splits a process's share into that many micro-batches (less memory, the
same gradient). Losses are summed over processes, so that every process
takes the same early-stopping decision; only rank 0 logs. With
``checkpoints`` (``checkpoints.Checkpoints``) the run saves its state every
so many steps and at each epoch's end, and resumes from the latest
checkpoint exactly where it was.
"""
import contextlib
import copy
import inspect
import logging
import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .engine import length_batches
from .progress import Progress
from .splits import kfold

log = logging.getLogger("q2_mgm")
# GPT-2's buffers are constant causal masks: DDP need not send them at every
# forward pass (the option was renamed in recent torch).
NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False} if "forward_sync_buffers" in
    inspect.signature(DistributedDataParallel).parameters
    else {"broadcast_buffers": False})


@dataclass(frozen=True)
class TrainingSettings:
    """Settings of one training run (the defaults: pre-training's)."""

    epochs: int = 30
    learning_rate: float = 1e-3
    batch_size: int = 50
    weight_decay: float = 0.001
    warmup_fraction: float = 0.1
    warmup_steps: int = 0
    validation_fraction: float = 0.1
    patience: int = 3
    random_state: int = 0
    device: str = "auto"
    threads: int = 0
    freeze_layers: int = 0
    layer_decay: float = 1.0
    gradient_accumulation: int = 1  # micro-batches per optimizer step

    def __post_init__(self):
        if self.gradient_accumulation < 1:
            raise ValueError("gradient_accumulation must be at least 1.")

    def as_dict(self):
        return asdict(self)


# Per-task defaults, the one place the actions take them from; the reasons
# for each departure from the published recipe are in the parameter
# descriptions (q2_mgm.plugin.parameters).
PRETRAINING = TrainingSettings()
FINE_TUNING = TrainingSettings(epochs=20, learning_rate=1e-4, batch_size=16,
                               validation_fraction=0.2)


class TrainingDiverged(ValueError):
    """The loss became infinite or NaN: no model is kept."""

    def __init__(self, epoch, learning_rate):
        super().__init__(
            f"Training diverged: the loss became infinite or NaN in epoch "
            f"{epoch} with learning rate {learning_rate:g}. No model was "
            "kept. Lower the learning rate (for example by a factor of "
            "10) and run again.")


def seed_everything(random_state):
    torch.manual_seed(random_state)
    np.random.seed(random_state % (2 ** 32))
    torch.use_deterministic_algorithms(True, warn_only=True)


def validation_split(n, fraction, random_state, strata=None, groups=None):
    """Train and validation positions; stratified when ``strata`` given,
    whole groups (subjects) on one side when ``groups`` given."""
    rng = np.random.default_rng(random_state)
    if fraction <= 0:
        return np.arange(n), np.array([], dtype=np.int64)
    if n < 2:
        raise ValueError("At least two samples are needed to hold some out "
                         "for validation; set the validation fraction to 0.")
    if groups is not None:
        return group_split(fraction, random_state, strata, groups)
    if strata is None:
        order = rng.permutation(n)
        n_val = min(max(1, int(round(n * fraction))), n - 1)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    strata = np.asarray(strata)
    val = []
    for value in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == value))
        n_val = int(round(len(members) * fraction))
        n_val = min(max(n_val, 1), len(members) - 1)
        val.extend(members[:n_val])
    val = np.sort(np.array(val, dtype=np.int64))
    return np.setdiff1d(np.arange(n), val), val


def group_split(fraction, random_state, strata, groups):
    """Validation positions made of whole groups: one fold of a
    (stratified) group k-fold with about ``1 / fraction`` folds."""
    n_groups = len(np.unique(np.asarray(groups)))
    if n_groups < 2:
        raise ValueError("A validation set of whole subjects needs at least "
                         "two subjects; set the validation fraction to 0.")
    folds = min(max(2, int(round(1 / fraction))), n_groups)
    train, val = kfold(len(groups), folds, random_state, strata, groups)[0]
    return np.sort(train), np.sort(val)


def layer_depth(name, n_layer):
    """0 for the embeddings, i + 1 for block i, n_layer + 1 above."""
    match = re.search(r"\.h\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    if ".wte." in f".{name}" or ".wpe." in f".{name}":
        return 0
    return n_layer + 1


def parameter_groups(network, weight_decay, learning_rate=1.0,
                     layer_decay=1.0, freeze_layers=0):
    """AdamW groups: weight decay on weight matrices and embeddings; none
    on biases and LayerNorm weights (as the Hugging Face Trainer that
    trained the published model). With ``freeze_layers`` k > 0 the
    embeddings and the k lowest blocks are frozen; with ``layer_decay``
    d < 1 a block j levels below the top learns at ``learning_rate * d**j``
    (layer-wise learning-rate decay)."""
    n_layer = network.config.n_layer
    exempt = {id(p) for module in network.modules()
              if isinstance(module, torch.nn.LayerNorm)
              for p in module.parameters()}
    groups = {}
    for name, parameter in network.named_parameters():
        depth = layer_depth(name, n_layer)
        if freeze_layers and depth <= freeze_layers:
            parameter.requires_grad_(False)
            continue
        no_decay = name.endswith("bias") or id(parameter) in exempt
        key = (depth, no_decay)
        if key not in groups:
            groups[key] = {
                "params": [], "weight_decay": 0.0 if no_decay else
                weight_decay,
                "lr": learning_rate * layer_decay ** (n_layer + 1 - depth)}
        groups[key]["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]


def linear_schedule(optimizer, warmup_steps, total_steps):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        remaining = total_steps - step
        return max(0.0, remaining / max(1, total_steps - warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass(frozen=True)
class Ranks:
    """This process among the data-parallel ones (alone: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")  # where collectives run

    @classmethod
    def current(cls, device):
        """The processes of ``torch.distributed``, when initialised; NCCL
        exchanges tensors on this process's GPU, ``device``."""
        if not (dist.is_available() and dist.is_initialized()) \
                or dist.get_world_size() == 1:
            return cls()
        nccl = dist.get_backend() == "nccl"
        return cls(dist.get_rank(), dist.get_world_size(),
                   device if nccl else torch.device("cpu"))

    def share(self, positions):
        """This process's part of a batch."""
        return positions[self.rank::self.size]

    def total(self, value):
        """The sum of a number over the processes."""
        if self.size == 1:
            return value
        tensor = torch.tensor(value, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.item()

    def gather(self, tensor):
        """A tensor of the same shape from every process, by rank."""
        if self.size == 1:
            return [tensor]
        local = tensor.to(self.device)
        every = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(every, local)
        return [t.cpu() for t in every]


@dataclass
class Run:
    """A training run's objects and progress: what a checkpoint holds."""

    network: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    shuffler: np.random.Generator  # draws the batches of every epoch
    ranks: Ranks
    device: torch.device
    epoch: int = 1                 # the epoch under way
    batches_done: int = 0          # of that epoch
    step: int = 0                  # optimizer steps in all
    losses: list = field(default_factory=list)   # of this epoch's steps
    history: list = field(default_factory=list)  # one record per epoch
    best_loss: float = None
    waited: int = 0                # epochs since the best one
    stopped: bool = False          # by early stopping
    best_state: dict = None        # the best epoch's weights
    # The shuffler's state at the start of the epoch under way: on
    # resuming, it draws that epoch's batches again.
    shuffle_state: dict = field(init=False)

    def __post_init__(self):
        self.shuffle_state = self.shuffler.bit_generator.state


def accumulate(model, engine, sentences, batch, batch_loss, batch_weight,
               micro_batches, ranks):
    """Back-propagate this process's share of a batch in micro-batches.

    Each micro-batch's loss is weighted by its part of the batch's
    ``batch_weight``, times the number of processes (DDP averages the
    gradients), so the gradient is that of the whole batch's mean loss.
    Returns this process's part of that mean.
    """
    whole = batch_weight(batch)
    share = ranks.share(batch)
    parts = [(part, batch_weight(part) / whole) for part in
             (share[i::micro_batches] for i in range(micro_batches))
             if len(part)]
    # Every process joins the gradient reduction; one without a sample of
    # this batch with a sentence weighted 0.
    parts = parts or [(batch[:1], 0.0)]
    loss = 0.0
    for index, (part, fraction) in enumerate(parts):
        sync = index == len(parts) - 1 or ranks.size == 1
        with contextlib.nullcontext() if sync else model.no_sync():
            value = batch_loss(model, engine.ids(sentences, part), part)
            (value * (fraction * ranks.size)).backward()
        loss += value.detach().item() * fraction
    return loss


def validation_loss(engine, sentences, positions, batch_loss, batch_weight,
                    batch_size, ranks):
    """Mean of ``batch_loss`` over batches of ``positions``, weighted by
    samples; each process computes its share of every batch."""
    network = engine.network
    network.eval()
    total = 0.0
    with torch.no_grad():
        for batch in length_batches(sentences.lengths[positions], batch_size):
            batch = positions[batch]
            share = ranks.share(batch)
            if len(share):
                loss = float(batch_loss(network, engine.ids(sentences, share),
                                        share))
                total += loss * (batch_weight(share) / batch_weight(batch)) \
                    * len(batch)
    return ranks.total(total) / len(positions)


def close_epoch(run, record, patience):
    """Record (and log) the epoch, keep its weights when best, decide on
    early stopping, and move on to the next epoch."""
    run.history.append(record)
    if run.ranks.rank == 0:
        log.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float)
                          else f"{k}={v}" for k, v in record.items()))
    monitored = record.get("validation_loss", record["train_loss"])
    if run.best_loss is None or monitored < run.best_loss - 1e-6:
        run.best_loss, run.waited = monitored, 0
        run.best_state = copy.deepcopy(run.network.state_dict())
    else:
        run.waited += 1
        run.stopped = run.waited >= patience
    run.epoch, run.batches_done, run.losses = run.epoch + 1, 0, []
    run.shuffle_state = run.shuffler.bit_generator.state


def train(engine, sentences, train_positions, validation_positions,
          batch_loss, settings, batch_weight=len, checkpoints=None):
    """Train the engine's network in place; return the per-epoch history.

    ``batch_loss(network, ids, positions)`` returns the mean loss of a
    batch; ``positions`` index ``sentences`` (and the caller's targets).
    ``batch_weight(positions)``: what that mean is over (default: the
    samples). Under ``torch.distributed`` every process passes the same
    positions. ``checkpoints``: where the run is saved and resumed from.
    """
    ranks = Ranks.current(engine.device)
    # Rank 0 draws as a single process does, every other rank its own
    # dropout masks.
    seed_everything(settings.random_state + ranks.rank)
    network = engine.network
    steps_per_epoch = math.ceil(len(train_positions) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    optimizer = torch.optim.AdamW(parameter_groups(
        network, settings.weight_decay, settings.learning_rate,
        settings.layer_decay, settings.freeze_layers))
    warmup = settings.warmup_steps or int(settings.warmup_fraction
                                          * total_steps)
    run = Run(network, optimizer,
              linear_schedule(optimizer, min(warmup, total_steps),
                              total_steps),
              np.random.default_rng(settings.random_state), ranks,
              engine.device)
    if checkpoints is not None:
        checkpoints.start(run, settings, sentences, train_positions,
                          validation_positions)
    model = network if ranks.size == 1 else DistributedDataParallel(
        network, device_ids=None if engine.device.type == "cpu"
        else [engine.device], **NO_BUFFER_SYNC)
    lengths = sentences.lengths[train_positions]
    with Progress("training", total_steps, "steps", done=run.step,
                  note="; early stopping may end it sooner") as progress:
        while not run.stopped and run.epoch <= settings.epochs:
            batches = length_batches(lengths, settings.batch_size,
                                     run.shuffler)
            model.train()
            for batch in batches[run.batches_done:]:
                optimizer.zero_grad()
                loss = ranks.total(accumulate(
                    model, engine, sentences, train_positions[batch],
                    batch_loss, batch_weight, settings.gradient_accumulation,
                    ranks))
                if not math.isfinite(loss):
                    raise TrainingDiverged(run.epoch, settings.learning_rate)
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                run.scheduler.step()
                run.losses.append(loss)
                run.batches_done += 1
                run.step += 1
                progress.advance()
                if checkpoints is not None and checkpoints.due(run.step) \
                        and run.batches_done < len(batches):
                    checkpoints.save(run)
            record = {"epoch": run.epoch,
                      "train_loss": float(np.mean(run.losses))}
            if len(validation_positions):
                record["validation_loss"] = validation_loss(
                    engine, sentences, validation_positions, batch_loss,
                    batch_weight, settings.batch_size, ranks)
            if not math.isfinite(record.get("validation_loss", 0.0)):
                raise TrainingDiverged(run.epoch, settings.learning_rate)
            close_epoch(run, record, settings.patience)
            if checkpoints is not None:
                checkpoints.save(run)
    if run.best_state is not None:
        network.load_state_dict(run.best_state)
    best_epoch = min(run.history, key=lambda r: r.get(
        "validation_loss", r["train_loss"]))["epoch"]
    for record in run.history:
        record["best"] = record["epoch"] == best_epoch
    network.eval()
    return run.history
