"""The training loop shared by fine-tuning and pre-training.

AdamW with linear warm-up and linear decay, weight decay sparing biases and
LayerNorm weights, gradients clipped at norm 1 (the published recipe),
shuffled batches of similar length from the engine, one validation pass
per epoch, early stopping on validation loss, and the best epoch's weights
restored at the end. Everything random is drawn from ``random_state``, so a
CPU run is reproducible bit for bit. The loop works on one process; wrapping
the engine's network in ``torch.nn.parallel.DistributedDataParallel`` and
giving each rank its share of ``train_positions`` runs it data-parallel
under torchrun.
"""
import copy
import logging
import math
import re
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .splits import kfold

log = logging.getLogger("q2_mgm")


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
    # Under DistributedDataParallel the network is its ``module``.
    n_layer = getattr(network, "module", network).config.n_layer
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


def train(engine, sentences, train_positions, validation_positions,
          batch_loss, settings):
    """Train the engine's network in place; return the per-epoch history.

    ``batch_loss(network, ids, positions)`` returns the mean loss of a
    batch; ``positions`` index ``sentences`` (and the caller's targets).
    """
    seed_everything(settings.random_state)
    network = engine.network
    generator = np.random.default_rng(settings.random_state)
    steps_per_epoch = math.ceil(len(train_positions) / settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    optimizer = torch.optim.AdamW(parameter_groups(
        network, settings.weight_decay, settings.learning_rate,
        settings.layer_decay, settings.freeze_layers))
    warmup = settings.warmup_steps or int(settings.warmup_fraction
                                          * total_steps)
    scheduler = linear_schedule(optimizer, min(warmup, total_steps),
                                total_steps)
    history, best_loss, best_state, waited = [], math.inf, None, 0
    for epoch in range(1, settings.epochs + 1):
        network.train()
        losses = []
        for batch, ids in engine.batches(sentences, train_positions,
                                         settings.batch_size, generator):
            loss = batch_loss(network, ids, batch)
            if not torch.isfinite(loss):
                raise TrainingDiverged(epoch, settings.learning_rate)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.detach().item())
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if len(validation_positions):
            record["validation_loss"] = engine.mean_loss(
                sentences, validation_positions, batch_loss,
                settings.batch_size)
        if not math.isfinite(record.get("validation_loss", 0.0)):
            raise TrainingDiverged(epoch, settings.learning_rate)
        history.append(record)
        log.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float)
                          else f"{k}={v}" for k, v in record.items()))
        monitored = record.get("validation_loss", record["train_loss"])
        if monitored < best_loss - 1e-6:
            best_loss, waited = monitored, 0
            best_state = copy.deepcopy(network.state_dict())
        else:
            waited += 1
            if waited >= settings.patience:
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    best_epoch = min(history, key=lambda r: r.get(
        "validation_loss", r["train_loss"]))["epoch"]
    for record in history:
        record["best"] = record["epoch"] == best_epoch
    network.eval()
    return history
