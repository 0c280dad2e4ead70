"""Packaging metadata lives in setup.cfg; this file only says which packages ship.

Packages are found, not listed, so a new subpackage cannot be left out of the wheel. The one
exception is the top-level templates/ folder (the Jinja templates a reviewer reads next to the
code), which ships as the package cascade_tool.templates.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["cascade_tool", "cascade_tool.*"]), "cascade_tool.templates"],
    package_dir={"cascade_tool.templates": "templates"},
)
