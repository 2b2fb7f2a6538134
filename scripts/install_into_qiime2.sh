#!/usr/bin/env bash
# Install q2-mgm into the active QIIME 2 environment (2024.10 or later), from
# the repository's root: the README's "Install into an existing QIIME 2
# environment" steps, word for word (a test checks), which
# `make test-qiime2-2024.10` runs. Arguments go to the torch step (for
# example --extra-index-url https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install torch==2.13.0 "setuptools>=77,<81" "$@"
python -m pip install -r requirements.txt
python -m pip install --no-deps .
qiime dev refresh-cache
