"""A generation asked to stop (the web page's Cancel button): it ends at the next denoising step or between videos,
and the videos written so far stay."""

from __future__ import annotations

import threading

import pytest

from lamp_motion.errors import JobStopped
from lamp_motion.jobs import GenerateSettings, generate
from lamp_motion.pipelines.lamp_pipeline import LampPipeline


def settings(motion_file, out, **changes) -> GenerateSettings:
    return GenerateSettings(motion=motion_file, prompt="a square moves right", out=out, sampling_steps=3, guidance=3.0,
                            t2i_steps=2, device="cpu", **changes)


def test_a_stop_between_videos_keeps_the_videos_written(motion_file, tmp_path):
    stop = threading.Event()

    def log(line: str) -> None:
        if line.startswith("video 1/3"):
            stop.set()  # as the first video is written

    with pytest.raises(JobStopped, match=r"stopped on request after 1 of 3 videos; those written are in "):
        generate(settings(motion_file, tmp_path / "videos", num_videos=3), log=log, stop=stop)
    assert sorted(p.name for p in (tmp_path / "videos").glob("*.mp4")) == ["a-square-moves-right-seed0.mp4"]


def test_a_stop_during_a_long_video_ends_it_at_the_next_denoising_step(motion_file, tmp_path, monkeypatch):
    stop, steps = threading.Event(), []
    sample = LampPipeline.sample

    def counted(pipe, *args, callback_on_step_end=None, **kwargs):
        def on_step(pipe, index, timestep, tensors):
            steps.append(index)
            stop.set()  # the Cancel button, during the first step of the first window
            return callback_on_step_end(pipe, index, timestep, tensors)

        return sample(pipe, *args, callback_on_step_end=on_step, **kwargs)

    monkeypatch.setattr(LampPipeline, "sample", counted)
    with pytest.raises(JobStopped, match="after 0 of 1 videos; nothing written"):
        generate(settings(motion_file, tmp_path / "videos", frames=12), log=None, stop=stop)  # 4 windows of 4 frames
    assert steps == [0]  # not the 3 steps of each of 4 windows
    assert not list((tmp_path / "videos").glob("*.mp4"))
