"""The library examples in docs/ML.md run as written (every python block of their section, in order)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "ML.md"
SECTION = "## Library examples"


def _blocks() -> list[str]:
    text = DOC.read_text()
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_library_examples_in_the_docs_run():
    blocks = _blocks()
    assert len(blocks) == 4
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # our own documentation, run as written
    assert namespace["because"].shape == (1, 5)
