"""`lamp eval` reports the motion score of any folder of videos against their training videos."""

from __future__ import annotations

import json

from lamp_motion.cli.main import main as lamp_main
from lamp_motion.data.toy.sets import make_set, sample_clips
from lamp_motion.video_io import write_video


def test_eval_scores_motion_per_video_and_per_motion(tmp_path):
    training = tmp_path / "training"
    make_set("move_right", training, num_videos=3, num_frames=16, seed=1)
    videos = tmp_path / "videos"
    videos.mkdir()
    truth = sample_clips("move_right", 1, seed=7)[0].render(16)
    for name, frames in {"same": truth, "backwards": truth[::-1].copy()}.items():
        write_video(videos / f"{name}.mp4", frames, fps=8)
        (videos / f"{name}.json").write_text(json.dumps({"prompt": "my clip", "motion": "mine"}))
    out = tmp_path / "eval"
    assert lamp_main(["eval", str(videos), "--no-clip", "--training-set", str(training), "--out", str(out)]) == 0
    report = json.loads((out / "eval.json").read_text())
    rows = {row["name"].rsplit("/", 1)[-1]: row for row in report["motion"]["videos"]}
    assert rows["same.mp4"]["motion_score"] > 0.8 > 0.2 > rows["backwards.mp4"]["motion_score"]
    summary = report["motion"]["motions"]["mine"]["motion_score"]
    assert summary["count"] == 2 and abs(summary["mean"] - (rows["same.mp4"]["motion_score"]
                                                           + rows["backwards.mp4"]["motion_score"]) / 2) < 1e-9
    markdown = (out / "eval.md").read_text()
    assert "Motion fidelity to the training clips" in markdown and f"{rows['same.mp4']['motion_score']:.3f}" in markdown
