"""One bench's section of ``docs/benchmarks.md``: the text between its start and end markers is
replaced (or the section appended), so each script rewrites its own figures and nothing else."""

from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is written by a script under `bench/`.\n"


def write_section(path: Path, start: str, end: str, body: str) -> None:
    """Put ``body`` between ``start`` and ``end`` in ``path`` (created with a header if missing)."""
    if path.exists():
        text = path.read_text()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = HEADER
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        path.write_text(f"{head}{start}\n{body}{end}{tail}")
    else:
        path.write_text(text.rstrip("\n") + f"\n\n{start}\n{body}{end}\n")
