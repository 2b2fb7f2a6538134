"""Pre-training on several processes, GPUs or nodes, launched by torchrun.

    torchrun --standalone --nproc_per_node=4 \\
        -m q2_mgm.distributed_pretraining \\
        --table table.qza --taxonomy taxonomy.qza --device cuda \\
        --output-dir mgm-continued --checkpoint-dir checkpoints

Every process builds the same corpus and network and runs the ``pretrain``
action's code (``pretraining.pretrain_model``), data-parallel: each trains
on its share of every batch (see ``mgm.training``), and rank 0 writes the
model directory, which ``qiime tools import --type 'MGMModel[Pretrained]'``
reads. Without torchrun it runs as one process. With ``--checkpoint-dir``
the run is saved every ``--checkpoint-every`` steps and at each epoch's end;
the same command, run again, resumes from the latest checkpoint.
"""
import argparse
import logging
import os
from pathlib import Path

import biom
import pandas as pd
import qiime2
import torch
import torch.distributed as dist

from .mgm import model as mgm_model
from .mgm.checkpoints import Checkpoints
from .mgm.engine import available_cores, resolve_device
from .mgm.pretraining import pretrain_model
from .mgm.training import PRETRAINING as PRE
from .mgm.training import TrainingSettings

log = logging.getLogger("q2_mgm")


def at_least(minimum):
    def count(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value
    return count


def arguments(argv=None):
    parser = argparse.ArgumentParser(
        prog="q2_mgm.distributed_pretraining",
        description="Continue (or start) MGM pre-training, data-parallel "
                    "under torchrun; the options of `qiime mgm pretrain`.")
    parser.add_argument("--table", required=True, help="FeatureTable "
                        "artifact (.qza) of the corpus")
    parser.add_argument("--taxonomy", required=True,
                        help="FeatureData[Taxonomy] artifact (.qza)")
    parser.add_argument("--model", help="MGMModel[Pretrained] artifact or "
                        "model directory to start from (default: the "
                        "published MGM)")
    parser.add_argument("--metadata", help="sample metadata file (labels)")
    parser.add_argument("--metadata-column", help="its categorical column")
    parser.add_argument("--from-scratch", action="store_true",
                        help="start from random weights")
    parser.add_argument("--extend-vocabulary", action="store_true",
                        help="add the table's unknown genera as tokens")
    parser.add_argument("--output-dir", required=True, type=Path,
                        help="where rank 0 writes the model directory")
    parser.add_argument("--output-artifact", type=Path, help="also save "
                        "it as this MGMModel[Pretrained] artifact (.qza)")
    parser.add_argument("--checkpoint-dir", type=Path, help="checkpoints "
                        "(on a file system every node sees); a run resumes "
                        "from the latest one there")
    parser.add_argument("--checkpoint-every", type=at_least(0),
                        default=0,
                        help="optimizer steps between checkpoints (0: at "
                        "the end of each epoch only)")
    parser.add_argument("--gradient-accumulation", type=at_least(1), default=1,
                        help="micro-batches each process splits its share "
                        "of a batch into (less memory, same gradient)")
    parser.add_argument("--epochs", type=at_least(1), default=PRE.epochs)
    parser.add_argument("--learning-rate", type=float,
                        default=PRE.learning_rate)
    parser.add_argument("--batch-size", type=at_least(1),
                        default=PRE.batch_size, help="samples per optimizer "
                        "step, over all processes")
    parser.add_argument("--weight-decay", type=float,
                        default=PRE.weight_decay)
    parser.add_argument("--warmup-fraction", type=float,
                        default=PRE.warmup_fraction)
    parser.add_argument("--validation-fraction", type=float,
                        default=PRE.validation_fraction)
    parser.add_argument("--patience", type=at_least(1), default=PRE.patience)
    parser.add_argument("--random-state", type=int, default=PRE.random_state)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"),
                        default="auto", help="cuda: each process uses GPU "
                        "LOCAL_RANK")
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"),
                        default="auto", help="auto: nccl on GPUs, else gloo")
    parser.add_argument("--threads", type=at_least(0), default=0,
                        help="CPU threads per process (0: the node's cores "
                        "shared out)")
    args = parser.parse_args(argv)
    if (args.metadata is None) != (args.metadata_column is None):
        parser.error("--metadata and --metadata-column go together")
    if args.checkpoint_every and args.checkpoint_dir is None:
        parser.error("--checkpoint-every needs --checkpoint-dir")
    return args


def process_device(device, local_rank):
    """``cpu``, or this process's GPU (``cuda:LOCAL_RANK``)."""
    if resolve_device(device).type == "cuda":
        torch.cuda.set_device(local_rank)
        return f"cuda:{local_rank}"
    return "cpu"


def starting_model(path):
    """The published MGM, or a model directory or artifact."""
    if path is None:
        return mgm_model.load_pretrained()
    if Path(path).is_dir():
        return mgm_model.load(path)
    return qiime2.Artifact.load(str(path)).view(mgm_model.MGMModel)


def labels_of(args):
    """Sample labels from the metadata column, if one is given."""
    if args.metadata is None:
        return None
    metadata = qiime2.Metadata.load(args.metadata)
    return metadata.get_column(args.metadata_column).to_series()


def pretrain(args, device, rank, world, backend):
    """Every process trains; rank 0 writes the model."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    settings = TrainingSettings(
        epochs=args.epochs, learning_rate=args.learning_rate,
        batch_size=args.batch_size, weight_decay=args.weight_decay,
        warmup_fraction=args.warmup_fraction,
        validation_fraction=args.validation_fraction,
        patience=args.patience, random_state=args.random_state,
        device=device,
        threads=args.threads or max(1, available_cores() // local),
        gradient_accumulation=args.gradient_accumulation)
    checkpoints = (None if args.checkpoint_dir is None else
                   Checkpoints(args.checkpoint_dir, args.checkpoint_every))
    model = pretrain_model(
        starting_model(args.model),
        qiime2.Artifact.load(str(args.table)).view(biom.Table),
        qiime2.Artifact.load(str(args.taxonomy)).view(pd.Series),
        labels_of(args), args.from_scratch, args.extend_vocabulary,
        settings, checkpoints)
    if rank != 0:
        return
    model.network.cpu()
    model.manifest["parameters"].update(processes=world, backend=backend)
    mgm_model.save(model, args.output_dir)
    log.info("Wrote the model directory %s.", args.output_dir)
    if args.output_artifact is not None:
        qiime2.Artifact.import_data("MGMModel[Pretrained]",
                                    str(args.output_dir)).save(
            str(args.output_artifact))
        log.info("Wrote the artifact %s.", args.output_artifact)


def main(argv=None):
    args = arguments(argv)
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    # Progress from rank 0 only; this handler replaces the one the plugin
    # would add.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s q2-mgm rank {rank}: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO if rank == 0 else logging.ERROR)
    device = process_device(args.device, int(os.environ.get("LOCAL_RANK", 0)))
    backend = None
    if world > 1:
        backend = args.backend
        if backend == "auto":
            backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
    try:
        pretrain(args, device, rank, world, backend)
    finally:
        if world > 1:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
