"""docs/architecture.md is what the code's imports say, and the packages import no circle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GENERATOR = Path(__file__).resolve().parents[2] / "docs" / "make_architecture_page.py"


@pytest.fixture(scope="module")
def generator():
    if not GENERATOR.is_file():
        pytest.skip("the documentation sources are not beside the package (an installed copy)")
    spec = importlib.util.spec_from_file_location("make_architecture_page", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_package_imports_a_package_that_imports_it_back(generator) -> None:
    top, _ = generator.import_graph()
    assert generator.find_cycle(top) is None
    assert "utils" in top.get("compose", set()) and not top.get("utils")


def test_the_architecture_page_is_up_to_date(generator) -> None:
    page = GENERATOR.parent / "architecture.md"
    assert page.read_text() == generator.render(), (
        "docs/architecture.md is stale: run python docs/make_architecture_page.py"
    )


def test_a_cycle_is_found(generator) -> None:
    assert generator.find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert generator.find_cycle({"a": {"b"}, "b": set()}) is None
