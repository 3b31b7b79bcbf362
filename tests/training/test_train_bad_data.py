"""Bad training data through ``lamp train``: one clear message per problem, training on what is usable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lamp_motion.cli.main import main
from lamp_motion.video_io import write_video
from tests.helpers import make_bad_entries, save_frame_folder, video

# Clips of 4 frames at stride 2 need 7 source frames; test_data's videos have 12.
SETTINGS = ["num_frames=4", "stride=2", "height=32", "width=32", "steps=2", "mixed_precision=no",
            "gradient_checkpointing=false", "tensorboard=false", "checkpoint_every=0", "learning_rate=1e-3"]


def lamp_train(folder: Path, base: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = main(["train", "-", f"data={folder}", f"base={base}", f"output_dir={out}", *SETTINGS])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def only_corrupt(folder: Path) -> None:
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)


def only_short(folder: Path) -> None:
    write_video(folder / "clip.mp4", video(frames=4), fps=8)


def no_video_files(folder: Path) -> None:
    folder.mkdir()
    (folder / "readme.md").write_text("# my videos")
    (folder / "notes.txt").write_text("shot on a phone")


BAD_FOLDERS = {
    "corrupt": (only_corrupt, ["no usable training videos in", "clip.mp4: the file is corrupt"]),
    "too-short": (only_short, ["no usable training videos in",
                               "clip.mp4: has 4 frames but a clip of 4 frames at stride 2 needs 7"]),
    "empty": (Path.mkdir, ["is empty; a training folder holds the videos of one motion"]),
    "no-video-files": (no_video_files, ["no videos or frame folders in", "readme.md: not a video"]),
    "missing": (lambda folder: None, ["does not exist or is not a folder"]),
    "all-bad": (make_bad_entries, ["no usable training videos in", "corrupt.mp4: the file is corrupt",
                                   "short.gif: has 4 frames but a clip of 4 frames at stride 2 needs 7",
                                   "empty/: the folder has no frame images", "readme.md: not a video"]),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_unusable_folder_stops_with_every_problem_named(case, tiny_sd_folder, tmp_path, capsys):
    make, expected = BAD_FOLDERS[case]
    folder = tmp_path / "horse_run"
    make(folder)
    code, _, err = lamp_train(folder, tiny_sd_folder, tmp_path / "out", capsys)
    assert code == 2
    assert err.startswith("error: ")
    for text in expected:
        assert text in err, (text, err)
    assert not (tmp_path / "out").exists()  # stopped before writing anything


def test_partly_bad_folder_trains_on_the_rest_with_a_warning_and_notes(tiny_sd_folder, tmp_path, capsys):
    folder = tmp_path / "moves_right"
    write_video(folder / "a.mp4", video(seed=1), fps=8)
    save_frame_folder(folder / "b", video(seed=2))
    grey = video(seed=3)
    grey[..., 1] = grey[..., 2] = grey[..., 0]
    write_video(folder / "grey.gif", grey, fps=8)
    save_frame_folder(folder / "rgba", video(seed=4), mode="RGBA")
    Image.fromarray(np.zeros((32, 48, 4), dtype=np.uint8)).save(folder / "rgba" / "011.png")  # transparent
    make_bad_entries(folder)

    with pytest.warns(UserWarning, match=r"training on 4 videos of .*moves_right; skipped 4") as caught:
        code, out, err = lamp_train(folder, tiny_sd_folder, tmp_path / "out", capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "motion.safetensors").is_file()
    warning = "\n".join(str(w.message) for w in caught)
    for name in ("corrupt.mp4", "short.gif", "empty/", "readme.md"):
        assert name in warning
    # The report at the start of training lists what was kept, skipped and converted.
    assert "4 training videos in" in out and "prompt: 'moves right'" in out
    assert "short.gif: has 4 frames but a clip of 4 frames at stride 2 needs 7" in out
    assert "grey.gif: converted greyscale frames to RGB" in out
    assert "rgba/: composited transparent frames over black" in out
