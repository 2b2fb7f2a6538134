"""The training loop shared by fine-tuning and pre-training.

AdamW with linear warm-up and linear decay, weight decay sparing biases and
LayerNorm weights, gradients clipped at norm 1 (the published recipe), batches
of shuffled samples padded to their longest sentence, one validation pass
per epoch, early stopping on validation loss, and the best epoch's weights
restored at the end. Everything random is drawn from ``random_state``, so a
CPU run is reproducible bit for bit. The loop works on one process; wrapping
``network`` in ``torch.nn.parallel.DistributedDataParallel`` and giving each
rank its share of ``train_positions`` runs it data-parallel under torchrun.
"""
import copy
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .engine import resolve_device, set_threads
from .vocabulary import PAD


@dataclass
class TrainingSettings:
    epochs: int = 30
    learning_rate: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.001
    warmup_fraction: float = 0.1
    patience: int = 3
    random_state: int = 0
    device: str = "auto"
    threads: int = 0

    def as_dict(self):
        return asdict(self)


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


def tensors(sentences, positions, device):
    ids = torch.as_tensor(sentences.padded(positions), device=device)
    return ids, ids != PAD


def evaluate_loss(network, sentences, positions, batch_loss, batch_size,
                  device):
    """Mean loss over ``positions`` (weighted by samples), no gradients."""
    network.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(positions), batch_size):
            batch = positions[start:start + batch_size]
            ids, mask = tensors(sentences, batch, device)
            total += float(batch_loss(network, ids, mask, batch)) * len(batch)
            count += len(batch)
    return total / max(count, 1)


def train(network, sentences, train_positions, validation_positions,
          batch_loss, settings, log=print):
    """Train ``network`` in place; return the per-epoch history.

    ``batch_loss(network, ids, mask, positions)`` returns the mean loss of a
    batch; ``positions`` index ``sentences`` (and the caller's targets).
    """
    seed_everything(settings.random_state)
    set_threads(settings.threads)
    device = resolve_device(settings.device)
    network.to(device)
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
        order = generator.permutation(train_positions)
        losses = []
        for start in range(0, len(order), settings.batch_size):
            batch = order[start:start + settings.batch_size]
            ids, mask = tensors(sentences, batch, device)
            loss = batch_loss(network, ids, mask, batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.detach().item())
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if len(validation_positions):
            record["validation_loss"] = evaluate_loss(
                network, sentences, validation_positions, batch_loss,
                settings.batch_size, device)
        history.append(record)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in record.items()))
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
