"""pytest hooks for `pytest --nbval-lax notebooks`: every notebook cell that nbval collects is marked `notebook`,
so `-m "not notebook"` leaves the notebooks out and `-m notebook` picks them (markers: pyproject.toml)."""
import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
