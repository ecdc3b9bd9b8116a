"""The documentation holds together: links and anchors resolve, every page is one click from the
README, the README stays short, and docs/configuration.md is what the settings classes say."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
from types import ModuleType

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 300

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without code blocks and inline code, where link syntax is not a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: pathlib.Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, title in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: pathlib.Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(page.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def broken_links(page: pathlib.Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading with that anchor in {dest.name}")
        elif fragment and dest.suffix != ".md":
            broken.append(f"{target}: an anchor into a file that is not Markdown")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: pathlib.Path) -> None:
    assert broken_links(page) == []


def test_the_link_check_finds_broken_links(tmp_path: pathlib.Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## `_id` layout\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#_id-layout) [ok](#page) [web](https://example.com/x)\n"
        "[gone](missing.md) [bad anchor](other.md#id-layout) [self](#nowhere)\n"
        "`[in code](missing.md)`\n```\n[in a block](missing.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#id-layout: no heading with that anchor in other.md",
        "#nowhere: no heading with that anchor in page.md",
    ]


def test_every_docs_page_is_one_click_from_the_readme() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(README)}
    assert [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked] == []


def test_the_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_the_readme_sdk_example_is_the_one_the_tests_run() -> None:
    """tests/test_sdk.py runs docs/sdk.md's examples; the README shows the first one."""
    block = re.compile(r"```python\n(.*?)```", re.S)
    (readme_example,) = block.findall(README.read_text())
    assert readme_example == block.findall((DOCS / "sdk.md").read_text())[0]


def test_configuration_page_is_current() -> None:
    run = subprocess.run(
        [sys.executable, "scripts/gen_config_docs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts" / "gen_config_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class Undocumented(BaseSettings):
    described: int = Field(1, ge=0, description="Has one.")
    bare: str = "x"


def test_the_generator_refuses_a_setting_without_a_description(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gen = _generator()
    monkeypatch.setattr(gen, "SOURCES", [gen.Source("Test", __name__, "Undocumented", "")])
    with pytest.raises(gen.MissingDescriptions, match=r"tests\.test_docs\.Undocumented\.bare$"):
        gen.render()


def test_every_setting_has_a_row() -> None:
    gen = _generator()
    page = (DOCS / "configuration.md").read_text()
    for source in gen.SOURCES:
        cls = gen.settings_class(source)
        for name, field in cls.model_fields.items():
            assert f"| `{gen.env_name(cls, name, field)}` |" in page
