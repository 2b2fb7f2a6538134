"""Lint q2-mgm's Galaxy tools (those scripts/galaxy_tools.sh writes) with
planemo.

    python3 scripts/galaxy_check.py TOOLS [WORKDIR]

planemo comes from PyPI into its own virtual environment (created in
WORKDIR, default .galaxy, on first use); ``planemo lint --fail_level
error`` must pass, skipping only the rules in Q2GALAXY_RULES, which
q2galaxy's tools break for every plugin. The tools' tests run in a real
Galaxy server: scripts/galaxy_server_test.py.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLANEMO = "planemo==0.75.47"
# q2galaxy's data-input filters break these for every plugin
# (q2-sample-classifier's tools included). Its TestsCaseValidation warnings
# do not stop the tests running in Galaxy 26.1 (make test-galaxy).
Q2GALAXY_RULES = ("InputsDataOptionsFilterAttribFiltersType",
                  "InputsDataOptionsFiltersRef")


def run(*args, **kwargs):
    print("+", " ".join(map(str, args)), flush=True)
    return subprocess.run(list(map(str, args)), **kwargs)


def main():
    tools = Path(sys.argv[1]).resolve()
    workdir = Path(sys.argv[2] if len(sys.argv) > 2
                   else ROOT / ".galaxy").resolve()
    planemo = workdir / "planemo-venv" / "bin" / "planemo"
    if not planemo.exists():
        run(sys.executable, "-m", "venv", workdir / "planemo-venv",
            check=True)
        run(planemo.parent / "pip", "install", "-q", PLANEMO, check=True)
    linted = run(planemo, "lint", "--fail_level", "error", "--skip",
                 ",".join(Q2GALAXY_RULES), tools).returncode == 0
    print(f"planemo lint: {'passed' if linted else 'FAILED'}")
    sys.exit(0 if linted else 1)


if __name__ == "__main__":
    main()
