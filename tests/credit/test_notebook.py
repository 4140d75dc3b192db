"""The model notebook runs top to bottom on a province (so it never rots)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from finance.core.settings import Settings
from tests.credit.builders import Province
from tests.credit.conftest import OBSERVED_UNTIL

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "credit_model.ipynb"


@pytest.mark.slow
def test_credit_model_notebook_executes(
    settings: Settings, province: Province, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_OBSERVED_UNTIL", OBSERVED_UNTIL.isoformat())
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    outputs = [
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    ]
    text = "\n".join(outputs)
    assert "oracle AUC gap" in text
    assert "AUC" in text
    assert (
        sum(
            "image/png" in output.get("data", {})
            for cell in notebook.cells
            if cell.cell_type == "code"
            for output in cell.get("outputs", [])
        )
        >= 3
    )
