"""HTML pages that show backbones with py3Dmol (3Dmol.js), working offline.

py3Dmol loads 3Dmol.js from a CDN by default, which fails on an offline machine.  We ship the
library (``proteindsm/assets/3Dmol-min.js``, 3Dmol.js 2.5.5, BSD-3-Clause) and copy it next to the
HTML page, which references it by relative path: the page works without network as long as the
``.js`` file stays beside it.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Optional, Sequence

from proteindsm.fileio import atomic_write_text

ASSET_JS = Path(__file__).resolve().parents[2] / "assets" / "3Dmol-min.js"
JS_NAME = "3Dmol-min.js"


def write_view(html_path: str | Path, structures: Sequence[tuple[str, str]], *, columns: int = 4,
               cell_px: int = 320, fmt: str = "pdb", highlight: Optional[Sequence[Sequence[int]]] = None) -> Path:
    """Write an HTML grid of structures, one viewer per ``(title, text)`` item (PDB or mmCIF text).

    Backbones are shown as cartoon traces coloured N→C (spectrum); ``highlight[k]``: residue numbers
    of structure ``k`` drawn in orange with thicker sticks (e.g. a scaffold's motif).  Returns the
    HTML path.
    """
    import py3Dmol

    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    js_target = html_path.parent / JS_NAME
    if not js_target.exists():
        shutil.copyfile(ASSET_JS, js_target)
    n = max(1, len(structures))
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    view = py3Dmol.view(width=cols * cell_px, height=rows * cell_px, viewergrid=(rows, cols), js=JS_NAME)
    for k, (_, text) in enumerate(structures):
        pos = (k // cols, k % cols)
        view.addModel(text, fmt, viewer=pos)
        view.setStyle({}, {"cartoon": {"color": "spectrum"}, "stick": {"radius": 0.15}}, viewer=pos)
        if highlight is not None and highlight[k]:
            view.setStyle({"resi": [int(r) for r in highlight[k]]},
                          {"cartoon": {"color": "orange"}, "stick": {"radius": 0.3, "color": "orange"}}, viewer=pos)
        view.zoomTo(viewer=pos)
    titles = "".join(f"<li>row {k // cols + 1}, column {k % cols + 1}: {t}</li>" for k, (t, _) in enumerate(structures))
    body = view._make_html()
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html_path.stem}</title></head><body>"
            f"<h3>{html_path.stem}</h3>{body}<ol style='list-style:none'>{titles}</ol>"
            f"<p>Needs {JS_NAME} beside this file (copied there; works offline).</p></body></html>")
    return atomic_write_text(html_path, page)
