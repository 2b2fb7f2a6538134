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
from dataclasses import asdict, dataclass

import numpy as np
import torch

log = logging.getLogger("q2_mgm")


@dataclass(frozen=True)
class TrainingSettings:
    """Settings of one training run (the defaults: pre-training's)."""

    epochs: int = 30
    learning_rate: float = 1e-3
    batch_size: int = 50
    weight_decay: float = 0.001
    warmup_fraction: float = 0.1
    validation_fraction: float = 0.1
    patience: int = 3
    random_state: int = 0
    device: str = "auto"
    threads: int = 0

    def as_dict(self):
        return asdict(self)


# Per-task defaults, the one place the actions take them from; the reasons
# for each departure from the published recipe are in the parameter
# descriptions (q2_mgm.plugin.parameters).
PRETRAINING = TrainingSettings()
FINE_TUNING = TrainingSettings(epochs=20, learning_rate=1e-4, batch_size=16,
                               validation_fraction=0.2)


def seed_everything(random_state):
    torch.manual_seed(random_state)
    np.random.seed(random_state % (2 ** 32))
    torch.use_deterministic_algorithms(True, warn_only=True)


def validation_split(n, fraction, random_state, strata=None):
    """Train and validation positions; stratified when ``strata`` given."""
    rng = np.random.default_rng(random_state)
    if fraction <= 0:
        return np.arange(n), np.array([], dtype=np.int64)
    if n < 2:
        raise ValueError("At least two samples are needed to hold some out "
                         "for validation; set the validation fraction to 0.")
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


def parameter_groups(network, weight_decay):
    """AdamW groups: weight decay on weight matrices and embeddings; none
    on biases and LayerNorm weights (as the Hugging Face Trainer that
    trained the published model)."""
    exempt = {id(p) for module in network.modules()
              if isinstance(module, torch.nn.LayerNorm)
              for p in module.parameters()}
    exempt |= {id(p) for name, p in network.named_parameters()
               if name.endswith("bias")}
    decay = [p for p in network.parameters() if id(p) not in exempt]
    rest = [p for p in network.parameters() if id(p) in exempt]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]


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
    optimizer = torch.optim.AdamW(
        parameter_groups(network, settings.weight_decay),
        lr=settings.learning_rate)
    scheduler = linear_schedule(
        optimizer, int(settings.warmup_fraction * total_steps), total_steps)
    history, best_loss, best_state, waited = [], math.inf, None, 0
    for epoch in range(1, settings.epochs + 1):
        network.train()
        losses = []
        for batch, ids in engine.batches(sentences, train_positions,
                                         settings.batch_size, generator):
            loss = batch_loss(network, ids, batch)
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
