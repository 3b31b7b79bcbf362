"""The README's "From Python" example runs as written, in a fresh folder, on the built-in toy base."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def python_example() -> str:
    section = README.read_text(encoding="utf-8").split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the section holds one Python example"
    return blocks[0]


def test_the_readme_python_example_tunes_and_generates(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_example(), "README.md (From Python)", "exec"), namespace)
    videos = namespace["result"].videos
    assert len(videos) == 2 and [v.seed for v in videos] == [0, 1]
    for video in videos:
        assert video.mp4.is_file() and video.gif.is_file() and video.sheet.is_file() and video.json.is_file()
        assert video.frames.shape == (16, 32, 32, 3) and video.frames.dtype == np.uint8
        assert np.abs(np.diff(video.frames.astype(int), axis=0)).mean() > 0  # the frames are not one image repeated
    assert (tmp_path / "my-run" / "motion" / "motion.safetensors").is_file()
    printed = capsys.readouterr().out
    assert "(16, 32, 32, 3)" in printed
