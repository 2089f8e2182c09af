"""Draw README's picture, ``docs/_static/readme-spiky.png``: the spiky profile, ground truth marked.

Run ``python docs/readme_image.py`` after changing the gallery's drawing code or the model.
It uses the gallery's own drawing function (``docs/_ext/synthloss_docs.py``), so README shows
exactly what the docs' gallery shows. The gallery itself is drawn at build time and never
committed; this one picture is, because README is read where no build runs (GitHub, PyPI).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from synthloss_docs import draw_curve  # noqa: E402

from pytest_synthloss import make_curve  # noqa: E402

OUTPUT = HERE / "_static" / "readme-spiky.png"


def main() -> None:
    OUTPUT.write_bytes(draw_curve(make_curve(30, "spiky")))
    print(f"wrote {OUTPUT.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
