"""The ways to install q2-mgm into an existing QIIME 2 environment say the
same thing: the README's steps, the script that CI runs
(``make test-qiime2-2024.10``), the conda environment file and recipe."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install_into_qiime2.sh"


def readme_steps():
    text = (REPO / "README.md").read_text()
    section = text.split("## Install into an existing QIIME 2 environment")[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return block.strip().splitlines()


def script_steps():
    lines = [line for line in SCRIPT.read_text().splitlines()
             if line.startswith(("python ", "qiime "))]
    # The script passes its arguments (another torch index) to torch's step.
    return [line.replace(' "$@"', "") for line in lines]


def test_readme_steps_are_the_script_steps():
    assert readme_steps() == script_steps()


def test_environment_file_installs_what_the_steps_install():
    text = (REPO / "environment.yml").read_text()
    pip = [line.strip()[2:] for line in
           text.split("  - pip:\n")[1].splitlines()]
    steps = script_steps()
    torch, setuptools = steps[0].split()[4:6]
    assert pip == [torch, "-r requirements.txt", "."]
    assert f"  - {setuptools.strip(chr(34))}\n" in text
    assert "-r requirements.txt" in steps[1]


def test_recipe_is_built_per_python_and_tests_with_docutils():
    recipe = (REPO / "recipe" / "meta.yaml").read_text()
    assert "python {{ python }}" in recipe and "noarch:" not in recipe
    requires = recipe.split("  requires:\n")[1].split("  imports:")[0]
    assert "    - docutils\n" in requires
