"""examples/lab.ipynb runs top to bottom (nbclient, a real kernel): it trains, shows the trace's table and
loss curve, and its two clips display as HTML5 videos linked from media/ beside the notebook."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "lab.ipynb"


def test_the_lab_notebook_runs_and_shows_its_clips(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the test extra installs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the test extra installs nbclient")
    shutil.copy(NOTEBOOK, tmp_path / "lab.ipynb")
    nb = nbformat.read(tmp_path / "lab.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    html = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    assert len(html) == 3, html  # the trace, the clip, the comparison
    assert "<table>" in html[0] and "<svg" in html[0] and "lr = 0.2" in html[0]
    videos = html[1:]
    for page in videos:
        assert "autoplay" not in page and "controls" in page
        src = re.search(r'<source src="([^"]+)" type="video/mp4">', page).group(1)
        poster = re.search(r'poster="([^"]+)"', page).group(1)
        track = re.search(r'<track kind="captions" src="([^"]+)" srclang="en" label="Steps" default>', page).group(1)
        for link in (src, poster, track):  # linked beside the notebook, with the file's version
            rel, _, version = link.partition("?v=")
            assert rel.startswith("media/") and (tmp_path / rel).is_file() and version, link
        assert not src.startswith("data:")
        assert (tmp_path / src.partition("?")[0]).with_suffix(".transcript.html").is_file()
    assert "compare" in videos[1]
