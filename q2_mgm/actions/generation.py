"""Action: generate synthetic communities."""
import biom
import pandas as pd

from ..mgm import model as mgm_model
from ..mgm.generation import Sampling, generate_samples
from .common import model_or_pretrained


def generate(model: mgm_model.MGMModel = None, n_samples: int = 10,
             labels: list = None, temperature: float = 1.0, top_k: int = 50,
             top_p: float = 1.0, max_length: int = 512,
             random_state: int = 0, batch_size: int = 64,
             device: str = "auto", threads: int = 0,
             precision: str = "float32"
             ) -> (biom.Table, pd.Series, pd.Series):
    sampling = Sampling(temperature, top_k, top_p, max_length, random_state,
                        batch_size, device, threads, precision)
    return generate_samples(model_or_pretrained(model), n_samples, labels,
                            sampling)
