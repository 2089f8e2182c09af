"""Sphinx configuration for the pytest-synthloss docs (MyST Markdown + autodoc).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``. The reference pages
and the profile gallery are generated during the build by ``_ext/synthloss_docs.py`` into
``docs/_generated/`` (not committed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest_synthloss

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "pytest-synthloss"
author = "pytest-synthloss contributors"
copyright = "2026, pytest-synthloss contributors"
release = pytest_synthloss.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "synthloss_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"pytest-synthloss {release}"
html_theme_options = {
    "description": "Deterministic synthetic loss curves for testing ML training monitors",
    "fixed_sidebar": True,
}

# Docstrings whose reStructuredText simple tables are malformed (text in a column margin):
# their tables are shown as preformatted text until fixed. The build warns (fails under
# -W) for a malformed table anywhere else, and for a name here that no longer needs it.
synthloss_docstring_tables_as_text: list[str] = []
