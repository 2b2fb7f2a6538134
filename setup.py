from setuptools import find_packages, setup

setup(
    name="q2-mgm",
    version="0.1.0",
    description="QIIME 2 plugin for MGM, the Microbial General Model",
    license="BSD-3-Clause",
    packages=find_packages(),
    python_requires=">=3.9",
    # qiime2 and the q2-* plugins come from conda or Debian, not PyPI.
    install_requires=["torch>=2.2", "transformers>=4.40,<5",
                      "safetensors>=0.4"],
    package_data={
        "q2_mgm": ["citations.bib", "example_data/*", "pretrained/*"],
        "q2_mgm.visualizers": ["assets/*/*"],
        "q2_mgm.tests": ["data/*"],
    },
    entry_points={"qiime2.plugins": ["q2-mgm=q2_mgm.plugin_setup:plugin"]},
    zip_safe=False,
)
