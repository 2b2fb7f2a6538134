#!/usr/bin/env bash
# A Galaxy server from PyPI in its own virtual environment: galaxy-app and
# galaxy-web-apps at one release, every dependency held to the pins of that
# release's `galaxy` metapackage (those for this Python, without extras, as a
# constraints file; it pins a certifi that PyPI lacks, so its .post1 stands
# in).
# Usage: scripts/galaxy_install.sh VERSION VENV
set -euo pipefail
VERSION=$1; VENV=$2
rm -rf "$VENV"
/usr/bin/python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" download -q --no-deps -d "$VENV/meta" "galaxy==$VERSION"
"$VENV/bin/python" - "$VENV/meta"/galaxy-"$VERSION"-*.whl > "$VENV/constraints.txt" <<'PY'
import sys, zipfile
from email.parser import Parser
from pip._vendor.packaging.requirements import Requirement
wheel = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
for line in Parser().parsestr(wheel.read(meta).decode()).get_all("Requires-Dist"):
    pin = Requirement(line)
    if pin.specifier and (pin.marker is None or pin.marker.evaluate({"extra": ""})):
        print(f"{pin.name}{pin.specifier}".replace(
            "certifi==2026.10.19", "certifi==2026.10.19.post1"))
PY
"${PIP[@]}" install -q -c "$VENV/constraints.txt" \
    "galaxy-app==$VERSION" "galaxy-web-apps==$VERSION"
touch "$VENV/.installed"
