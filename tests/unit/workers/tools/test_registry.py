"""Tools are found through the `agentlog.tools` entry-point group: a user adds one by installing a package."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.conversation.responder import ToolSpec
from workers.conversation.tools import offered_tools
from workers.tools.builtin import Echo
from workers.tools.registry import RegistryError, discover
from workers.tools.settings import ToolSettings
from workers.tools.worker import tool_registry


def install(site: Path, distribution: str, module: str, source: str, entries: dict[str, str]) -> None:
    """What `pip install` leaves for a distribution with entry points: its module and its dist-info."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{distribution}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[agentlog.tools]\n{lines}")


@pytest.fixture
def site(tmp_path, monkeypatch) -> Iterator[Path]:
    """A directory on sys.path, as a virtualenv's site-packages is."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("plugin_")]:
        del sys.modules[name]


PLUGIN = """
    class Weather:
        name = "weather"
        description = "Today's weather in a city."
        parameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

        async def run(self, arguments, call):
            return {"city": arguments["city"], "sky": "clear"}

    def shout(arguments, call):
        return arguments["text"].upper()

    class Shout:
        name = "shout"
        description = "Says it louder."
        parameters = {"type": "object"}
        run = staticmethod(shout)

    weather = Weather()
"""


def test_installed_tools_are_found_beside_the_built_ins(site):
    install(
        site, "plugin-tools", "plugin_tools", PLUGIN, {"weather": "plugin_tools:weather", "shout": "plugin_tools:Shout"}
    )

    registry = tool_registry(ToolSettings())

    assert registry.names() == ["calculator", "echo", "http_fetch", "shout", "timestamp", "weather"]
    weather = registry.get("weather")
    assert weather is not None
    assert weather.parameters["required"] == ["city"]


def test_the_model_is_offered_the_installed_tools_as_they_describe_themselves(site):
    install(site, "plugin-offered", "plugin_offered", PLUGIN, {"weather": "plugin_offered:weather"})
    offered_tools.cache_clear()  # read once per process: as if the worker started after the install
    try:
        offered = {spec.name: spec for spec in offered_tools()}
    finally:
        offered_tools.cache_clear()

    assert sorted(offered) == ["calculator", "echo", "http_fetch", "timestamp", "weather"]
    assert offered["weather"] == ToolSpec(
        "weather",
        "Today's weather in a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    assert offered["echo"].description == Echo.description


def test_without_installed_tools_the_built_ins_are_there():
    assert tool_registry(ToolSettings()).names() == ["calculator", "echo", "http_fetch", "timestamp"]


@pytest.mark.parametrize(
    ("source", "target", "says"),
    [
        ("raise ImportError('no such library')\n", "plugin_broken:tool", "cannot be loaded"),
        ("tool = 42\n", "plugin_broken:tool", "not a tool"),
        (
            "class Echo:\n    name = 'echo'\n    description = ''\n    parameters = {}\n    def run(self, a, c): ...\n"
            "tool = Echo()\n",
            "plugin_broken:tool",
            "registered already",
        ),
    ],
    ids=["import-fails", "not-a-tool", "name-taken"],
)
def test_an_installed_tool_that_cannot_be_used_stops_the_worker_naming_it(site, source, target, says):
    install(site, "plugin-broken", "plugin_broken", source, {"broken": target})
    with pytest.raises(RegistryError, match=says) as raised:
        discover([Echo()])
    assert "'broken'" in str(raised.value)
