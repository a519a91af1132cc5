"""Runs every Python snippet of docs/real-api-providers.md, in order, in one namespace, against moto's server."""

import re
from pathlib import Path

import pytest

from examples import aws_network
from tests.support.moto import moto_server, reset_moto

PAGE = Path(__file__).parents[2] / "docs" / "real-api-providers.md"
EXAMPLE = Path(aws_network.__file__)

pytestmark = pytest.mark.slow


def blocks(fence: str) -> list[str]:
    return re.findall(rf"^```{fence}\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_every_snippet_of_the_guide_runs_against_moto(capsys):
    snippets = blocks("python")
    assert len(snippets) >= 8
    with moto_server() as endpoint:
        reset_moto(endpoint)
        namespace: dict[str, object] = {"__name__": "real_api_providers", "endpoint": endpoint}
        for number, code in enumerate(snippets, 1):
            # dont_inherit: the snippets run as a user's module would, without this file's __future__ imports.
            exec(compile(code, f"{PAGE.name} snippet {number}", "exec", dont_inherit=True), namespace)
    assert "TypeError: 'function' object is not subscriptable" in capsys.readouterr().out


def test_the_guide_quotes_the_example_providers_as_they_are():
    source = EXAMPLE.read_text(encoding="utf-8")
    quoted = [line.strip() for block in blocks("text") for line in block.splitlines() if "..." not in line]
    assert quoted
    for line in quoted:
        assert line in source, f"the guide quotes {line!r}, which examples/aws_network.py no longer has"
