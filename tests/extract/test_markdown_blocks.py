"""The Markdown line scanner agrees with a CommonMark parser (markdown-it-py) on which lines
are code and which are paragraphs."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from linkwatch.extract.markdown import _Blocks
from tests.extract.conftest import FIXTURES

SAMPLES = {
    "fixture-code-blocks": (FIXTURES / "markdown_code_blocks.md").read_text(),
    "fixture-links": (FIXTURES / "markdown_links.md").read_text(),
    "nested-list-fence": "- item\n\n  ```\n  code\n  ```\n\n  text\n",
    "quote-fence": "> quote\n> ```\n> code\n> ```\n> after\n",
    "indented-after-paragraph": "para\n    lazy continuation\n\n    real code\n",
    "tab-code": "text\n\n\tcode with tab\n\nback\n",
    "ordered-list-continuation": "1. one\n\n    still one\n2. two\n",
    "long-fence": "````\n```\nnot closed by three\n```\n````\nafter\n",
    "html-block": "<div>\n[x](y)\n</div>\n\ntext\n",
    "inline-tag-inside-paragraph": 'Text\n<a href="https://x.org/">x</a> and\n[y](z)\n',
    "lone-tag-line-after-blank": 'Text\n\n<a href="https://x.org/">\n\nafter\n',
    "comment-block": "<!--\n[x](y)\n-->\ntext\n",
    "list-item-indented-code": "- item\n\n      git clone https://x.org/r\n\n  text\n",
    "ordered-item-indented-code": "10. item\n\n        code\n\n    text\n",
    "nested-item-paragraph": "- a\n  - b\n\n      text in b\n\n          code in b\n",
    "list-then-less-indented-code": "- a\n- b\n\n    text in b\n\nend\n\n    code\n",
}


def _lines(text: str, spans: list[tuple[int, int]]) -> set[int]:
    out: set[int] = set()
    for a, b in spans:
        first = text.count("\n", 0, a)
        last = text.count("\n", 0, max(a, b - 1))
        out.update(range(first, last + 1))
    return out


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_code_lines_agree_with_markdown_it(name: str) -> None:
    text = SAMPLES[name]
    tokens = MarkdownIt("commonmark").parse(text)
    code = {
        i
        for t in tokens
        if t.type in ("code_block", "fence") and t.map
        for i in range(t.map[0] + (t.type == "fence"), t.map[1])
    }
    inline = {i for t in tokens if t.type == "inline" and t.map for i in range(*t.map)}
    blocks = _Blocks(text, 0, len(text))
    ours = _lines(text, blocks.paragraphs) | _lines(text, blocks.html)
    assert not (ours & code), f"lines read as text that are code: {sorted(ours & code)}"
    assert inline <= ours, f"paragraph lines missed: {sorted(inline - ours)}"
