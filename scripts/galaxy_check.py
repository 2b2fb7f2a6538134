"""Check q2-mgm as Galaxy tools: write them with q2galaxy, lint them with
planemo, and run every tool's test the way Galaxy runs a tool.

    .venv/bin/python scripts/galaxy_check.py Q2GALAXY_SOURCE [WORKDIR]

Q2GALAXY_SOURCE is a q2galaxy 2022.11.1 source checkout (the release that
matches QIIME 2 2022.11). The script installs it into this environment,
templates the tools into WORKDIR (default: .galaxy), lints them with
``planemo lint --fail_level error`` from its own virtual environment
(created in WORKDIR on first use; planemo comes from PyPI), skipping only
three rules that q2galaxy 2022.11 breaks for every plugin, then runs each
test: the inputs JSON Galaxy would write (every parameter, defaults
filled in, the test's values over them) goes to ``q2galaxy run mgm ACTION
inputs.json`` in a fresh directory, and every output the test declares
must be written. Exits non-zero if anything fails.
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
# q2galaxy 2022.11's data-input filters and test section names break these
# for every plugin (q2-sample-classifier's tools included).
Q2GALAXY_RULES = ("InputsDataOptionsFilterAttribFiltersType",
                  "InputsDataOptionsFiltersRef", "TestsCaseValidation")


def run(*args, **kwargs):
    print("+", " ".join(map(str, args)), flush=True)
    return subprocess.run(list(map(str, args)), **kwargs)


def template(source, workdir):
    """Install q2galaxy and write the tools; returns the tool folder."""
    run(VENV / "python", "-m", "pip", "install", "-q", "--no-deps",
        "--no-build-isolation", source, check=True)
    prefix = workdir / "conda-prefix"
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    tools = workdir / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    run(VENV / "q2galaxy", "template", "plugin", "mgm", tools, check=True,
        env={**os.environ, "CONDA_PREFIX": str(prefix)},
        stdout=subprocess.DEVNULL)
    return tools / "suite_qiime2__mgm"


def lint(tools, workdir):
    planemo = workdir / "planemo-venv" / "bin" / "planemo"
    if not planemo.exists():
        run(sys.executable, "-m", "venv", workdir / "planemo-venv",
            check=True)
        run(planemo.parent / "pip", "install", "-q", "planemo", check=True)
    return run(planemo, "lint", "--fail_level", "error", "--skip",
               ",".join(Q2GALAXY_RULES), tools).returncode == 0


# Galaxy's inputs JSON --------------------------------------------------------
def default_value(param):
    """What Galaxy writes for a parameter the test does not set."""
    kind = param.get("type")
    if kind == "data":
        return None
    if kind == "boolean":
        return param.get("truevalue") if param.get("checked") == "true" \
            else param.get("falsevalue")
    if kind == "select":
        options = param.findall("option")
        chosen = [o for o in options if o.get("selected") == "true"]
        return (chosen or options)[0].get("value") if options else None
    if kind in ("integer", "float"):
        value = param.get("value")
        if value in (None, ""):
            return None
        return int(value) if kind == "integer" else float(value)
    return param.get("value")


def test_value(param, value, test_data):
    """A test's value as Galaxy writes it for this parameter."""
    kind = param.get("type")
    if kind == "data":
        return str(test_data / value)
    if kind == "data_column":
        return [value]
    if kind == "integer":
        return int(value)
    if kind == "float":
        return float(value)
    return value


def fill(inputs, test, test_data):
    """The JSON of ``inputs`` (tool XML) with the ``test`` element's values
    over the defaults."""
    given = {p.get("name"): p for p in test.findall("param")}
    out = {}
    for node in inputs:
        name = node.get("name")
        if node.tag == "param":
            out[name] = (test_value(node, given[name].get("value"),
                                    test_data)
                         if name in given
                         else default_value(node))
        elif node.tag == "section":
            out[name] = fill(node, test, test_data)
        elif node.tag == "conditional":
            out[name] = conditional(node, test.find(
                f"conditional[@name='{name}']"), test_data)
        elif node.tag == "repeat":
            out[name] = [fill(node, item, test_data)
                         for item in test.findall(f"repeat[@name='{name}']")]
    return out


def conditional(node, test, test_data):
    selector = node.find("param")
    chosen = (test.find(f"param[@name='{selector.get('name')}']")
              .get("value") if test is not None
              else default_value(selector))
    branch = node.find(f"when[@value='{chosen}']")
    values = fill(branch, test if test is not None else ET.Element("test"),
                  test_data)
    return {selector.get("name"): chosen, **values}


def run_tests(tools):
    failures = []
    for xml in sorted(tools.glob("*.xml")):
        tool = ET.parse(xml).getroot()
        action = xml.stem.split("__")[-1]
        for k, test in enumerate(tool.find("tests")):
            inputs = fill(tool.find("inputs"), test, tools / "test-data")
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / "inputs.json").write_text(json.dumps(inputs))
                result = run(VENV / "q2galaxy", "run", "mgm", action,
                             "inputs.json", cwd=folder,
                             capture_output=True, text=True)
                written = {p.stem for p in Path(folder).glob("*.qz[av]")}
            expected = {o.get("name") for o in test.findall("output")}
            missing = sorted(expected - written)
            if result.returncode or missing:
                failures.append((action, k, missing,
                                 result.stdout[-2000:], result.stderr[-2000:]))
                print(f"FAIL {action} test {k}: missing {missing}")
            else:
                print(f"ok   {action} test {k}: {sorted(written)}")
    return failures


def main():
    source = Path(sys.argv[1]).resolve()
    workdir = Path(sys.argv[2] if len(sys.argv) > 2
                   else ROOT / ".galaxy").resolve()
    tools = template(source, workdir)
    linted = lint(tools, workdir)
    failures = run_tests(tools)
    for action, k, missing, stdout, stderr in failures:
        print(f"--- {action} test {k}\n{stdout}\n{stderr}")
    n_tests = sum(len(ET.parse(x).getroot().find("tests"))
                  for x in tools.glob("*.xml"))
    print(f"planemo lint: {'passed' if linted else 'FAILED'}; tests: "
          f"{n_tests - len(failures)} of {n_tests} passed")
    sys.exit(0 if linted and not failures else 1)


if __name__ == "__main__":
    main()
