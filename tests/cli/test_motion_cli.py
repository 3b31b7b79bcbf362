"""`lamp motion merge`: one file that applies several motions, and what it refuses."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from lamp_motion.cli.main import main
from tests.helpers import generate


def sheet(out) -> np.ndarray:
    record = json.loads(next(out.glob("*.json")).read_text())
    return np.asarray(Image.open(out / record["videos"]["sheet"]))


def test_a_merged_motion_makes_the_video_the_two_motions_make(motion_file, tmp_path, capsys):
    merged = tmp_path / "merged.safetensors"
    assert main(["motion", "merge", str(motion_file), str(motion_file), "--weights", "0.5", "1.5", "--out",
                 str(merged), "--dtype", "fp32"]) == 0
    assert "merged 2 motions" in capsys.readouterr().out
    prompt = ["--prompt", "a red circle moves right"]
    assert generate("--motion", str(merged), *prompt, "--out", str(tmp_path / "one")) == 0
    assert generate("--motion", str(motion_file), "--motion", str(motion_file), "--motion-weights", "0.5", "1.5",
                    *prompt, "--out", str(tmp_path / "two")) == 0
    assert generate("--motion", str(motion_file), *prompt, "--out", str(tmp_path / "alone")) == 0
    assert np.array_equal(sheet(tmp_path / "one"), sheet(tmp_path / "two"))
    assert not np.array_equal(sheet(tmp_path / "one"), sheet(tmp_path / "alone"))


def test_merge_refuses_what_it_cannot_write(motion_file, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    for args, message in [([str(motion_file)], "give two or more motion files to merge"),
                          ([str(motion_file), str(motion_file), "--weights", "1"],
                           "--weights: 1 motion weight(s) for 2 motion(s)"),
                          ([str(motion_file), str(tmp_path / "nope.safetensors")], "nope.safetensors"),
                          ([str(motion_file), str(motion_file), "--out", str(tmp_path / "m.pt")],
                           "must name a .safetensors file")]:
        extra = [] if "--out" in args else ["--out", str(out)]
        assert main(["motion", "merge", *args, *extra]) == 2
        assert message in capsys.readouterr().err
    assert not out.exists()
    out.write_bytes(b"kept")
    assert main(["motion", "merge", str(motion_file), str(motion_file), "--out", str(out)]) == 2
    assert "exists; choose another --out or pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"kept"
    assert main(["motion", "merge", str(motion_file), str(motion_file), "--out", str(out), "--overwrite"]) == 0
