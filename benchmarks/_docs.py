"""Shared by the benchmark scripts: describe the machine and write figures into docs/.

Each benchmark owns one section of a markdown file, fenced by ``<!-- begin:NAME -->``
and ``<!-- end:NAME -->`` comments. Re-running a benchmark replaces only its own
section, so several scripts (and hand-written prose around them) share one page.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent.parent / "docs"


def machine() -> str:
    """One line naming the hardware and software a figure was measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__} using {torch.get_num_threads()} threads"]
    if torch.cuda.is_available():
        parts.insert(0, f"GPU {torch.cuda.get_device_name()}")
    return "; ".join(parts) + f"; Python {platform.python_version()}"


def command_line() -> str:
    """The command that is running, as one would type it from the repository root."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def update_section(page: str, name: str, markdown: str) -> Path:
    """Put ``markdown`` into section ``name`` of ``docs/<page>``, replacing that section only.

    The section gets a footer with the command, the machine and the date, so every
    figure on the page says where it came from.
    """
    path = DOCS / page
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    stamp = f"\n\nMeasured by `{command_line()}` on {machine()}, {time.strftime('%Y-%m-%d')}.\n"
    block = f"{begin}\n{markdown.rstrip()}{stamp}{end}"
    text = path.read_text() if path.exists() else f"# {page.removesuffix('.md').replace('-', ' ').capitalize()}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A markdown table; floats are shown with 3 significant digits."""
    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def run_parts(args, page: str, name: str, cpu_part: Callable[[], str], gpu_part: Callable[[], str]) -> None:
    """Run a benchmark's CPU part, then its GPU part where CUDA is available (``args.only``
    can pick one); print each part's markdown and, unless ``args.no_docs``, write it to
    section ``NAME-cpu`` / ``NAME-gpu`` of ``docs/<page>``."""
    parts = [("cpu", cpu_part)] if args.only != "gpu" else []
    if args.only != "cpu":
        if torch.cuda.is_available():
            parts.append(("gpu", gpu_part))
        else:
            print("no CUDA device: GPU part skipped")
    for kind, part in parts:
        if kind == "cpu":
            torch.set_num_threads(args.threads)  # before the part, so the docs' machine line names the count used
        text = part()
        print(text)
        if not args.no_docs:
            update_section(page, f"{name}-{kind}", text)
