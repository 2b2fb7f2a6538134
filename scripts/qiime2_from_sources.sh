#!/usr/bin/env bash
# A QIIME 2 environment built from a release's sources: a virtual environment
# without system site packages, the release's dependency pins, then each
# package (a folder laid out as ../shared/vendor/qiime2-2024.10:
# requirements.txt and one tarball per package). It stands in for a conda
# QIIME 2 environment; scripts/install_into_qiime2.sh adds q2-mgm to it.
# Usage: scripts/qiime2_from_sources.sh SOURCES VENV
set -euo pipefail
SOURCES=$1; VENV=$2
PACKAGES="qiime2 q2templates q2-types q2cli q2-feature-table q2-sample-classifier q2galaxy"

rm -rf "$VENV"
/usr/bin/python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" -r "$SOURCES/requirements.txt"
for package in $PACKAGES; do
    "${PIP[@]}" --no-deps --no-build-isolation "$SOURCES/$package"-*.tar.gz
done
touch "$VENV/.installed"
