"""The analyst notebooks run from a clean kernel, top to bottom, without an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_the_two_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_blank_spots.ipynb",
        "02_tourism_ovop_coverage.ipynb",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_from_a_clean_kernel(path, shared_data, tmp_path, monkeypatch):
    import nbformat  # noqa: PLC0415
    from nbclient import NotebookClient  # noqa: PLC0415

    book = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), (
        f"{path.name} is committed with outputs"
    )
    monkeypatch.setenv("PETADESA_DATA_DIR", str(shared_data))
    monkeypatch.chdir(tmp_path)
    client = NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=dict(os.environ))
    errors = [
        output
        for cell in book.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    last = book.cells[-1].outputs
    assert last, f"{path.name}: the last cell shows nothing"
