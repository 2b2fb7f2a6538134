#!/usr/bin/env bash
# q2-mgm's Galaxy tool suite as an administrator gets it: q2galaxy (from
# QIIME2_VENV, the QIIME 2 environment with q2-mgm installed) writes one
# tool per action with its test data into OUT/suite_qiime2__mgm; OUT also
# gets the administrators' README (docs/galaxy-tools-README.md, versions filled
# in) and a tool_conf.xml section, and OUT.tar.gz packs OUT.
# Usage: scripts/galaxy_tools.sh QIIME2_VENV OUT GALAXY_VERSION
set -euo pipefail
VENV=$(cd "$1" && pwd); OUT=$2; GALAXY_VERSION=$3
rm -rf "$OUT" "$OUT.tar.gz"
mkdir -p "$OUT"
# q2galaxy reads package versions from a conda prefix; an empty one makes it
# take them from the environment's installed distributions.
PREFIX=$(mktemp -d)
trap 'rm -rf "$PREFIX"' EXIT
mkdir "$PREFIX/conda-meta"
CONDA_PREFIX=$PREFIX "$VENV/bin/q2galaxy" template plugin mgm "$OUT" > /dev/null
version() { "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))"; }
sed -e "s/@Q2GALAXY@/$(version q2galaxy)/g" -e "s/@Q2_MGM@/$(version q2-mgm)/g" \
    -e "s/@QIIME2@/$(version qiime2)/g" -e "s/@GALAXY@/$GALAXY_VERSION/g" \
    docs/galaxy-tools-README.md > "$OUT/README.md"
{
    echo '<section id="qiime2_mgm" name="QIIME 2: q2-mgm">'
    for xml in "$OUT"/suite_qiime2__mgm/*.xml; do
        echo "  <tool file=\"suite_qiime2__mgm/$(basename "$xml")\"/>"
    done
    echo '</section>'
} > "$OUT/tool_conf.xml"
tar -C "$(dirname "$OUT")" -czf "$OUT.tar.gz" "$(basename "$OUT")"
echo "$(ls "$OUT"/suite_qiime2__mgm/*.xml | wc -l) tools in $OUT (and $OUT.tar.gz)"
