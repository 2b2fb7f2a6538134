"""Action: continued pre-training on the user's own samples."""
import biom
import pandas as pd
import qiime2

from ..mgm import model as mgm_model
from ..mgm.pretraining import pretrain_model
from ..mgm.training import PRETRAINING as PRE
from ..mgm.training import TrainingSettings
from .common import model_or_pretrained


def pretrain(table: biom.Table, taxonomy: pd.Series,
             model: mgm_model.MGMModel = None,
             metadata: qiime2.CategoricalMetadataColumn = None,
             from_scratch: bool = False, extend_vocabulary: bool = False,
             epochs: int = PRE.epochs,
             learning_rate: float = PRE.learning_rate,
             batch_size: int = PRE.batch_size,
             weight_decay: float = PRE.weight_decay,
             warmup_fraction: float = PRE.warmup_fraction,
             validation_fraction: float = PRE.validation_fraction,
             patience: int = PRE.patience,
             random_state: int = PRE.random_state,
             device: str = PRE.device,
             threads: int = PRE.threads) -> mgm_model.MGMModel:
    settings = TrainingSettings(
        epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
        weight_decay=weight_decay, warmup_fraction=warmup_fraction,
        validation_fraction=validation_fraction, patience=patience,
        random_state=random_state, device=device, threads=threads)
    labels = None if metadata is None else metadata.to_series()
    return pretrain_model(model_or_pretrained(model), table, taxonomy,
                          labels, from_scratch, extend_vocabulary, settings)
