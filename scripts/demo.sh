#!/usr/bin/env bash
# Run q2-mgm's main job on the example data: writes real .qza/.qzv files.
set -euo pipefail
QIIME=$1; DATA=$2; OUT=$3
mkdir -p "$OUT"
set -x
"$QIIME" mgm summarize-coverage --i-table "$DATA/mouse-table.qza" \
    --i-taxonomy "$DATA/mouse-taxonomy.qza" --o-visualization "$OUT/coverage.qzv"
"$QIIME" mgm embed --i-table "$DATA/mouse-table.qza" \
    --i-taxonomy "$DATA/mouse-taxonomy.qza" --o-embeddings "$OUT/embeddings.qza"
"$QIIME" mgm embedding-distance --i-embeddings "$OUT/embeddings.qza" \
    --o-distance-matrix "$OUT/mgm-distance.qza"
set +x
echo "Demo outputs in $OUT/:"; ls -1 "$OUT"
