"""Reference outputs of the published MGM code path, for q2-mgm's tests.

The published pre-processing is run as published: ``MicroCorpus`` of
microformer-mgm 0.5.8, imported from the unpacked wheel (not installed, and
no pickle loaded: its tokenizer is only a map from the published token list,
``<pad> <mask> <bos> <eos>`` + ``phylogeny.csv``). The published weights are
loaded by plain ``transformers`` (``GPT2LMHeadModel.from_pretrained`` on the
wheel's ``general_model`` folder) and run on the 512-padded sentences with
their attention mask, as the published code does. Nothing of q2-mgm is used.

Inputs are the TSV tables in ``q2_mgm/tests/data`` (``<name>-table.tsv``:
features x samples; ``<name>-taxonomy.tsv``). Writes, per table,
``published-<name>.tsv``: one row per sample with its sentence (token ids),
mean-pooled embedding (``e0``..``e255``), the logits at the last real
position for a fixed set of tokens (``logit_<id>``) and the mean
log-likelihood of the sentence.

    python scripts/published_reference.py --wheel PATH [--data DIR]
"""
import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import torch
from transformers import GPT2LMHeadModel

DATA = Path(__file__).resolve().parents[1] / "q2_mgm" / "tests" / "data"
TABLES = ("mouse", "crc", "globalpatterns")
SPECIAL = ["<pad>", "<mask>", "<bos>", "<eos>"]
LOGIT_TOKENS = list(range(0, 4)) + list(range(4, 9669, 359))


class TokenMap:
    """What ``MicroCorpus`` needs of a tokenizer: ``encode`` and the pad id."""

    pad_token_id = 0

    def __init__(self, tokens):
        self.ids = {token: i for i, token in enumerate(tokens)}

    def encode(self, tokens):
        return [self.ids[t] for t in tokens]


def published_corpus(root, frame):
    """Token sentences of a samples x lineages frame, by MicroCorpus."""
    sys.path.insert(0, str(root))
    from mgm.src.MicroCorpus import MicroCorpus
    phylogeny = root / "mgm" / "resources" / "phylogeny.csv"
    tokens = SPECIAL + list(pd.read_csv(phylogeny, index_col=0).index)
    corpus = MicroCorpus(tokenizer=TokenMap(tokens), abu=frame,
                         phylogeny_path=str(phylogeny), max_len=512)
    return corpus.data.index, corpus.tokens


def published_outputs(network, tokens):
    """Mean-pooled last hidden states, logits and log-likelihoods."""
    mask = (tokens != 0).long()
    with torch.no_grad():
        out = network(input_ids=tokens, attention_mask=mask,
                      output_hidden_states=True)
    hidden = out.hidden_states[-1]
    weights = mask.unsqueeze(-1).float()
    embeddings = (hidden * weights).sum(1) / weights.sum(1)
    last = mask.sum(1) - 1
    logits = out.logits[torch.arange(len(tokens)), last][:, LOGIT_TOKENS]
    log_probs = torch.log_softmax(out.logits[:, :-1], -1).gather(
        2, tokens[:, 1:, None])[..., 0]
    targets = mask[:, 1:].float()
    likelihood = (log_probs * targets).sum(1) / targets.sum(1)
    return embeddings.numpy(), logits.numpy(), likelihood.numpy()


def reference(root, network, name, data):
    table = pd.read_csv(data / f"{name}-table.tsv", sep="\t", index_col=0)
    taxonomy = pd.read_csv(data / f"{name}-taxonomy.tsv", sep="\t",
                           index_col=0)["Taxon"]
    frame = table.T.astype(float)
    frame.columns = taxonomy.reindex(table.index).to_numpy()
    samples, tokens = published_corpus(root, frame)
    embeddings, logits, likelihood = published_outputs(network, tokens)
    rows = pd.DataFrame(embeddings, index=pd.Index(samples, name="sample"),
                        columns=[f"e{i}" for i in range(embeddings.shape[1])])
    for k, token in enumerate(LOGIT_TOKENS):
        rows[f"logit_{token}"] = logits[:, k]
    rows["log_likelihood"] = likelihood
    rows.insert(0, "sentence", [" ".join(map(str, t[t != 0].tolist()))
                                for t in tokens.numpy()])
    rows.to_csv(data / f"published-{name}.tsv", sep="\t",
                float_format="%.8g")
    lengths = (tokens != 0).sum(1)
    print(f"{name}: {len(rows)} samples, sentence lengths "
          f"{int(lengths.min())}-{int(lengths.max())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", required=True,
                        help="path to the microformer-mgm 0.5.8 wheel")
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        zipfile.ZipFile(args.wheel).extractall(root)
        network = GPT2LMHeadModel.from_pretrained(
            root / "mgm" / "resources" / "general_model").eval()
        for name in TABLES:
            reference(root, network, name, Path(args.data))


if __name__ == "__main__":
    main()
