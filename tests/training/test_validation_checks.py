"""Validation videos that show leakage: the toy check, the CLIP check, and the trainer's use of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lamp_motion.data.toy.scene import ALL_BACKGROUNDS
from lamp_motion.data.toy.sets import Clip, make_set, sample_clips
from lamp_motion.metrics.clip_metrics import ClipScorer
from lamp_motion.metrics.toy import palette_from_videos
from lamp_motion.training.checks import CheckResult, FrameOneCheck, ToyCheck, default_check
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def pale_palette():
    """A set of one look: red and green objects on pale backgrounds."""
    clips = sample_clips("move_right", 6, seed=1, colours=["red", "green"])
    clips = [Clip(c.motion, c.start.moved(background=("white", "beige")[i % 2], texture=0.0), c.params)
             for i, c in enumerate(clips)]
    return palette_from_videos([clip.render(16) for clip in clips]), clips


def test_toy_cases_are_content_the_set_lacks(pale_palette):
    palette, _ = pale_palette
    cases = ToyCheck("move_right", palette, count=2).cases(32, 32)
    assert len(cases) == 2
    for prompt, image in cases:
        colour = prompt.split()[1]
        assert prompt.endswith("moves right") and colour not in ("red", "green")
        assert image.size == (32, 32)
        corner = np.asarray(image)[0, 0].astype(float)
        # the background is not one of the set's (white, beige): far from both
        assert min(np.linalg.norm(corner - np.array(ALL_BACKGROUNDS[b])) for b in ("white", "beige")) > 60


def test_toy_check_is_quiet_on_ground_truth_and_warns_on_leakage(pale_palette):
    palette, training = pale_palette
    check = ToyCheck("move_right", palette)
    truth = sample_clips("move_right", 1, seed=5, colours=["blue"])[0]
    truth = Clip(truth.motion, truth.start.moved(background="navy", texture=0.0), truth.params)
    frames = truth.render(16)
    quiet = check.check(frames, "a blue circle moves right")
    assert quiet.warnings == [] and quiet.scores["leakage"] < 0.05
    # later frames take the training set's look: a red object on a white background
    leaked = Clip(truth.motion, truth.start.moved(colour="red", background="white"), truth.params).render(16)
    result = check.check(np.concatenate([frames[:1], leaked[1:]]), "a blue circle moves right")
    assert any("training set's colours" in w for w in result.warnings)
    # the object disappears after frame 4
    empty = frames.copy()
    empty[4:] = frames[0, 0, 0]
    assert any("object is lost in 12 of 16 frames" in w for w in check.check(empty, "x").warnings)


class RecordingCheck:
    """A check that adds one case and warns on every video."""

    def __init__(self):
        self.checked = []

    def cases(self, height, width):
        from PIL import Image

        return [("a blue square moves right", Image.new("RGB", (width, height), (20, 20, 200)))]

    def check(self, frames, prompt):
        self.checked.append((frames.shape, prompt))
        return CheckResult(scores={"score": 0.25}, warnings=["frame 1 not kept"])


def test_trainer_adds_the_checks_cases_scores_and_warns(motion_folder, tiny_sd_folder, tmp_path, capsys):
    check = RecordingCheck()
    config = tiny_config(motion_folder, tiny_sd_folder, tmp_path / "out", steps=2, validate_every=2,
                         validation_steps=2, motion_score=False)  # the check's own scores only
    train(config, check)
    folder = tmp_path / "out" / "validation" / "step-000002"
    assert [p.name for p in sorted(folder.glob("*.mp4"))] == ["00-a-blue-square-moves-right.mp4"]
    assert check.checked == [((4, 32, 32, 3), "a blue square moves right")]
    assert json.loads((folder / "scores.json").read_text()) == {"00-a-blue-square-moves-right": {"score": 0.25}}
    assert "warning: step 2, validation video 00 ('a blue square moves right'): frame 1 not kept" in "".join(capsys.readouterr())


def test_default_check_toy_base_clip_or_none(tmp_path, clip_folder):
    data = tmp_path / "moves_right"
    make_set("move_right", data, num_videos=3, num_frames=8, seed=0)
    assert default_check(TrainConfig(data=str(data))) is None  # no validation videos: nothing to check
    toy = default_check(TrainConfig(data=str(data), validate_every=100))
    assert isinstance(toy, ToyCheck) and toy.motion == "move_right" and len(toy.palette.backgrounds) == 3
    assert default_check(TrainConfig(data=str(data), validate_every=100, base="some/sd-model")) is None
    clip = default_check(TrainConfig(data=str(data), validate_every=100, base="some/sd-model",
                                     validation_clip=str(clip_folder)))
    assert isinstance(clip, FrameOneCheck)
    other = tmp_path / "waves_hello"
    make_set("move_right", other, num_videos=2, num_frames=8, seed=0)
    assert default_check(TrainConfig(data=str(other), validate_every=100)) is None  # not a toy motion's prompt


def test_frame_one_check_warns_when_later_frames_change(clip_folder):
    scorer = ClipScorer.from_pretrained(clip_folder, device="cpu")
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    still = np.repeat(first[None], 6, axis=0)
    changing = np.concatenate([first[None], rng.integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)])
    same = FrameOneCheck(scorer).check(still, "p")
    assert same.warnings == [] and same.scores["clip_similarity_to_frame1"] == pytest.approx(1.0, abs=1e-4)
    other = FrameOneCheck(scorer, min_similarity=0.9999).check(changing, "p")
    assert other.scores["clip_similarity_to_frame1"] < 0.9999
    assert any("stop resembling frame 1" in w for w in other.warnings)
