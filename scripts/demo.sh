#!/usr/bin/env bash
# q2-mgm's main job on the example data (mouse diet, BK vs Western):
# coverage, then classify-samples with each mouse kept on one side of the
# split, beside the random-forest and embedding baselines; writes real
# .qza/.qzv files.
set -euo pipefail
QIIME=$1; DATA=$2; OUT=$3
rm -rf "$OUT"; mkdir -p "$OUT"
set -x
"$QIIME" mgm summarize-coverage --i-table "$DATA/mouse-table.qza" \
    --i-taxonomy "$DATA/mouse-taxonomy.qza" --o-visualization "$OUT/coverage.qzv"
"$QIIME" mgm classify-samples --i-table "$DATA/mouse-table.qza" \
    --i-taxonomy "$DATA/mouse-taxonomy.qza" \
    --m-metadata-file "$DATA/mouse-metadata.tsv" --m-metadata-column diet \
    --m-groups-file "$DATA/mouse-metadata.tsv" --m-groups-column mouseID \
    --p-random-state 0 --output-dir "$OUT/classify-samples"
set +x
echo "Demo outputs (open the .qzv files at https://view.qiime2.org):"
find "$OUT" -name '*.qz[av]' | sort
