#!/usr/bin/env bash
# Install everything q2-mgm needs on a Debian 12 machine; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: the tests render reports in a real browser (headless).
DEBIAN_PACKAGES="qiime q2cli q2-types q2-feature-table q2-taxa q2-sample-classifier q2templates python3-venv chromium"
if ! /usr/bin/python3 -c "import qiime2, q2cli, q2_types, q2_feature_table, q2_taxa, q2_sample_classifier, q2templates" 2>/dev/null \
        || ! command -v chromium >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $DEBIAN_PACKAGES
fi

if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi

# Pin Debian's scientific stack so pip never replaces it.
.venv/bin/python - > .venv/constraints.txt <<'PY'
from importlib.metadata import version
for name in ("numpy", "pandas", "scipy", "scikit-learn", "h5py", "biom-format",
             "matplotlib", "scikit-bio", "seaborn", "statsmodels"):
    try:
        v = version(name)
    except Exception:
        continue
    print(f"{name}=={v}")
PY

.venv/bin/python -m pip install -q --disable-pip-version-check \
    -c .venv/constraints.txt -r requirements.txt
.venv/bin/python -m pip install -q --disable-pip-version-check \
    -c .venv/constraints.txt --no-deps --no-build-isolation -e .

# A `qiime` command that sees the plugin.
cat > .venv/bin/qiime <<'SH'
#!/usr/bin/env bash
exec "$(dirname "$0")/python" -m q2cli "$@"
SH
chmod +x .venv/bin/qiime
.venv/bin/python -m q2cli dev refresh-cache >/dev/null 2>&1 || true
touch .venv/.installed
