"""The web UI's handlers without a browser: uploads and their limits, server folders, tune / cancel, the library."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the web UI needs gradio (pip install -e '.[ui]')")

from lamp_motion.data.toy.sets import make_set  # noqa: E402
from lamp_motion.ui.handlers import Handlers, UISettings  # noqa: E402
from lamp_motion.ui.uploads import UploadError, UploadLimits, collect_uploads, safe_name, server_folder  # noqa: E402

FAST = dict(steps=3, frames=4, height=32, width=32, validate_every=0)  # a tuning of a few seconds on the toy base


@pytest.fixture(scope="module")
def toy_set(tmp_path_factory) -> list[Path]:
    return make_set("move_right", tmp_path_factory.mktemp("sets") / "moves_right", num_videos=4, num_frames=8, seed=0)


@pytest.fixture(scope="module")
def tuned(toy_set, tmp_path_factory) -> tuple[Handlers, list]:
    """Handlers whose library holds moves_right, tuned for 3 steps from an upload; and the tuning's updates."""
    h = handlers(tmp_path_factory.mktemp("ui"))
    return h, tune(h, toy_set)


def handlers(tmp_path: Path, **changes) -> Handlers:
    return Handlers(UISettings(motions=tmp_path / "motions", work=tmp_path / "work", **changes))


def tune(h: Handlers, files, name="moves_right", folder=None, resume=False, session="s", **changes):
    values = {**FAST, **changes}
    return list(h.tune(files, folder, name, "", values["steps"], values["frames"], values["height"], values["width"],
                       values["validate_every"], resume, session))


def test_safe_name_keeps_no_folders():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("a b/..\\c d.mp4") == "c_d.mp4"
    assert safe_name("..") == "file"


def test_oversize_and_too_many_files_are_refused(toy_set, tmp_path):
    with pytest.raises(UploadError, match=r"video_000.mp4: .* MB is over the limit of 0.001 MB per file"):
        collect_uploads(toy_set, tmp_path / "a", UploadLimits(max_file_mb=0.001))
    with pytest.raises(UploadError, match="4 videos is over the limit of 3"):
        collect_uploads(toy_set, tmp_path / "b", UploadLimits(max_files=3))


def test_zip_entries_are_flattened_and_checked(toy_set, tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(toy_set[0], "../../escape.mp4")
        out.write(toy_set[1], "inner/b.mp4")
        out.writestr("notes.pdf", b"x")
    notes = collect_uploads([archive], tmp_path / "set", UploadLimits())
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["b.mp4", "escape.mp4"]
    assert notes == ["set.zip: notes.pdf: left out, not a video or caption"]
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("big.mp4", bytes(3 * 2**20))
    with pytest.raises(UploadError, match=r"bomb.zip: big.mp4: 3.0 MB is over the limit of 1 MB per file"):
        collect_uploads([bomb], tmp_path / "small", UploadLimits(max_file_mb=1))


def test_server_folders_stay_under_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "horse_run").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    assert server_folder(root, "horse_run") == (root / "horse_run").resolve()
    for bad, message in [("../outside", "without '..'"), ("horse_run/../../outside", "without '..'"),
                         (str(tmp_path / "outside"), "without '..'"), ("link", "leads outside the data root"),
                         ("missing", "is not a folder")]:
        with pytest.raises(UploadError, match=message):
            server_folder(root, bad)
    with pytest.raises(UploadError, match="--data-root"):
        server_folder(None, "horse_run")


def test_bad_uploads_get_the_per_file_report(toy_set, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    h = handlers(tmp_path)
    _, report, prompt = h.prepare_set([*toy_set[:2], broken], None, "moves_right", 4, 32, 32, "")
    assert prompt == "moves right"  # from the motion's name, as `lamp train` takes it from the folder's
    assert "2 training videos" in report and "skipped 1:\n  broken.mp4: " in report
    [refused] = tune(h, [broken])
    assert refused.status == "**refused**: see the report"
    assert "no usable training videos" in refused.report and "broken.mp4: " in refused.report


def test_long_videos_and_dot_dot_folders_are_refused_on_the_page(toy_set, tmp_path):
    h = handlers(tmp_path, limits=UploadLimits(max_video_seconds=0.5), data_root=tmp_path)
    [long] = tune(h, toy_set)
    assert "videos over the limit of 0.5 s:\n  video_000.mp4: 1.0 s" in long.report
    [escape] = tune(h, None, folder="../x")
    assert "refused: server folder '../x' refused" in escape.report
    [named] = tune(h, toy_set, name="../x")
    assert "motion name '../x'" in named.report


def test_tune_fills_the_library_and_cancel_keeps_a_checkpoint(tuned, toy_set):
    h, updates = tuned
    assert updates[-1].finished and updates[-1].status.startswith("**done**: 3 steps")
    assert h.motion_names() == ["moves_right"]
    assert "prompt *moves right*, 4 frames of 32x32, base `built-in toy base`, 3 steps" in h.describe_motion("moves_right")
    [again] = tune(h, toy_set)
    assert "a motion named 'moves_right' is in the library already" in again.report

    stopped, cancelled = [], False
    for update in h.tune(toy_set, None, "stopped", "", 500, 4, 32, 32, 0, False, "session-1"):
        stopped.append(update)
        if update.progress and update.progress[0] >= 1 and not cancelled:
            assert h.cancel("session-1") == "stopping after this step; a checkpoint is kept"
            cancelled = True
    assert stopped[-1].status.startswith("**stopped**: interrupted at step")
    assert not stopped[-1].finished and h.motion_names() == ["moves_right"]
    assert h.cancel("session-1") == "no tuning of yours is running"
    assert list((h.settings.motions / "stopped" / "checkpoints").iterdir())
    resumed = tune(h, toy_set, name="stopped", resume=True, steps=stopped[-1].progress[0] + 1)
    assert resumed[-1].finished, resumed[-1].status
    assert h.motion_names() == ["moves_right", "stopped"]


def test_a_closed_page_stops_the_tuning_without_waiting_for_it(toy_set, tmp_path):
    """Gradio closes a tuning's generator on its event loop when the page goes away; the close only asks the job to
    stop, and the job's last step and checkpoint finish in its own thread while the loop serves other events."""
    from gradio.utils import SyncToAsyncIterator

    h = handlers(tmp_path)
    release, seen = threading.Event(), {}

    async def page_goes_away():
        events = SyncToAsyncIterator(h.tune(toy_set, None, "gone", "", 500, 4, 32, 32, 0, False, "tab"), None)
        while not (update := await anext(events)).progress or update.progress[0] < 1:
            pass
        job = seen["job"] = h.running["tab"]
        on_step = job.hooks.on_step

        def held_step(step, total, loss):  # the next step (and so the checkpoint) waits for the test
            on_step(step, total, loss)
            release.wait()

        job.hooks.on_step = held_step
        await events.aclose()  # what Gradio does when the tab closes or the event is cancelled
        seen["stopping"] = job.hooks.stop.is_set()
        seen["alive"] = not job.wait(0)
        seen["names"] = await asyncio.to_thread(h.motion_names)  # the loop still serves other requests
        seen["cancel"] = h.cancel("tab")

    loop = threading.Thread(target=asyncio.run, args=(page_goes_away(),), daemon=True)
    try:
        loop.start()
        loop.join(120)  # a close that waited for the held job would never return
        assert not loop.is_alive(), "closing the tuning waited for the training thread"
        assert seen == {"job": seen["job"], "stopping": True, "alive": True, "names": [],
                        "cancel": "no tuning of yours is running"}
    finally:
        release.set()
    job = seen["job"]
    assert job.wait(300) and job.outcome == "stopped", job.status()
    assert list((h.settings.motions / "gone" / "checkpoints").iterdir())  # the stop kept a checkpoint


def test_the_app_builds_with_four_tabs(tmp_path):
    from lamp_motion.ui.app import build_app

    app = build_app(UISettings(motions=tmp_path / "motions", work=tmp_path / "work"))
    ids = {block.elem_id for block in app.blocks.values()}
    assert {"tab-tune", "tab-generate", "tab-edit", "tab-evaluate", "tune-start", "gen-run", "gen-cancel",
            "gen-motion-scale", "edit-cancel", "gen-motion2", "gen-weight2"} <= ids
    for job, button in [("generate", "gen-cancel"), ("edit", "edit-cancel")]:
        index = next(index for index, fn in app.fns.items() if fn.name == job)
        [cancel] = [fn for fn in app.fns.values() if index in (fn.cancels or [])]
        cancel_button = next(block for block in app.blocks.values() if block.elem_id == button)
        assert cancel.is_cancel_function and cancel.targets == [(cancel_button._id, "click")]


def test_generate_edit_and_evaluate_give_the_page_its_files(tuned, toy_set, tmp_path):
    from PIL import Image

    from lamp_motion.video_io import read_video

    h, _ = tuned
    out = h.generate("moves_right", None, "", "", "a red circle moves right", None, 0, 2, None, 0.2)
    assert [Path(p).suffix for p in out.files] == [".mp4", ".gif", ".png", ".json"]
    assert all(Path(p).is_file() for p in out.files) and out.mp4 == out.files[0] and out.sheet == out.files[2]
    assert read_video(out.mp4)[0].shape[0] == 4 and out.settings["steps"] == 2 and out.settings["motion_scale"] == 1.0
    assert h.generate("moves_right", None, "", "", "a red circle moves right", None, 0, 2, None, 0.2,
                      0.5).settings["motion_scale"] == 0.5
    with pytest.raises(ValueError, match="prompt is empty"):
        h.generate("moves_right", None, "", "", " ", None, 0, 2, None, 0.2)
    with pytest.raises(ValueError, match="motion 'nope' is not in the library"):
        h.generate("nope", None, "", "", "a red circle moves right", None, 0, 2, None, 0.2)

    first = tmp_path / "first.png"
    Image.fromarray(read_video(toy_set[0])[0][0]).save(first)
    edited = h.edit("moves_right", str(toy_set[0]), str(first), "a red circle moves right", 2, 0)
    assert Path(edited.mp4).is_file() and read_video(edited.mp4)[0].shape[0] > 1

    batch = next(b for b in h.batches() if b.startswith("videos/"))
    table, files = h.evaluate(batch, "")
    assert "|" in table and [Path(f).name for f in files] == ["eval.json", "eval.md"]
    assert "Motion fidelity to the training clips" in table  # the motion score against the uploaded videos
    with pytest.raises(ValueError, match="is not a finished batch"):
        h.evaluate("../motions", "")

    mixed = h.generate("moves_right", None, "", "", "a red circle moves right", None, 0, 2, None, 0.2, 1.0,
                       "moves_right", 0.5).settings  # the second motion, mixed in
    assert len(mixed["motion"]) == 2 and mixed["motion"][0] == mixed["motion"][1] == out.settings["motion"]
    assert mixed["motion_weights"] == [1.0, 0.5] and out.settings["motion_weights"] is None


def test_generate_keeps_lamp_generates_limits_and_its_cancel_stops_at_the_next_step(tuned, monkeypatch):
    from lamp_motion.errors import JobStopped, SettingError
    from lamp_motion.pipelines.lamp_pipeline import LampPipeline
    from lamp_motion.ui.app import LABELS

    h, _ = tuned
    videos = h.settings.work / "videos"
    before = sorted(videos.rglob("*")) if videos.exists() else []
    for frames, steps, message in [(1_000_000, 2, "Frames=1000000 is over the limit of 1024 frames per video"),
                                   (None, 5000, "Steps=5000 is over the limit of 1000"),
                                   (float("inf"), 2, "Frames=inf is not a whole number")]:
        with pytest.raises(SettingError) as refused:
            h.generate("moves_right", None, "", "", "a red circle moves right", frames, 0, steps, None, 0.2, session="tab")
        assert message in refused.value.render(LABELS)

    sample, steps_run = LampPipeline.sample, []

    def cancelled_as_it_starts(pipe, *args, callback_on_step_end=None, **kwargs):
        assert h.cancel_generation("tab") == "stopping at the next denoising step"  # the Cancel button's request

        def counted(pipe, index, timestep, tensors):
            steps_run.append(index)
            return callback_on_step_end(pipe, index, timestep, tensors)

        return sample(pipe, *args, callback_on_step_end=counted, **kwargs)

    monkeypatch.setattr(LampPipeline, "sample", cancelled_as_it_starts)
    with pytest.raises(JobStopped, match="stopped on request after 0 of 1 videos; nothing written"):
        h.generate("moves_right", None, "", "", "a red circle moves right", None, 0, 20, None, 0.2, session="tab")
    assert steps_run == [0]  # the first of 20 steps
    # refused and stopped: no video written, only the run's manifest (which says what is missing)
    new = [p for p in (sorted(videos.rglob("*")) if videos.exists() else []) if p not in before and p.is_file()]
    assert [p.name for p in new] == ["manifest.json"]
    assert json.loads(new[0].read_text())["videos"][0]["status"] == "missing"
    assert h.cancel_generation("tab") == "no generation of yours is running"


def test_edit_cancel_stops_at_the_next_inversion_step_and_writes_no_video(tuned, toy_set, tmp_path, monkeypatch):
    from PIL import Image

    from lamp_motion.errors import JobStopped
    from lamp_motion.pipelines import editing
    from lamp_motion.video_io import read_video

    h, _ = tuned
    first = tmp_path / "first.png"
    Image.fromarray(read_video(toy_set[0])[0][0]).save(first)
    invert, steps_run = editing.ddim_invert, []

    def cancelled_as_it_starts(pipe, latents, callback_on_step_end=None, **kwargs):
        assert h.cancel_edit("tab") == "stopping at the next inversion or denoising step"

        def counted(pipe, index, timestep, tensors):
            steps_run.append(index)
            return callback_on_step_end(pipe, index, timestep, tensors)

        return invert(pipe, latents, callback_on_step_end=counted, **kwargs)

    monkeypatch.setattr(editing, "ddim_invert", cancelled_as_it_starts)
    edits = h.settings.work / "edits"
    before = sorted(edits.rglob("*")) if edits.exists() else []
    with pytest.raises(JobStopped, match="the edit stopped on request; no edited video written"):
        h.edit("moves_right", str(toy_set[0]), str(first), "a red circle moves right", 20, 0, session="tab")
    assert steps_run == [0]  # the first of 20 inversion steps
    assert [p for p in (sorted(edits.rglob("*")) if edits.exists() else []) if p not in before and p.is_file()] == []
    assert h.cancel_edit("tab") == "no edit of yours is running"


def test_the_page_shows_paths_relative_to_its_folders_and_the_server_log_keeps_them_whole(tuned, toy_set, tmp_path,
                                                                                          caplog):
    import gradio as gr

    from lamp_motion.ui.app import _page_errors

    h, updates = tuned
    server = str(h.settings.work.parent)  # the folder holding the work folder and the library
    caplog.set_level(logging.INFO, logger="lamp_motion.ui")
    assert updates[0].report.startswith("4 training videos in uploads/") and "moves_right (prompt: " in updates[0].report
    assert updates[-1].status == "**done**: 3 steps; motion file `moves_right/motion.safetensors`"
    out = h.generate("moves_right", None, "", "", "a red circle moves right", None, 0, 2, None, 0.2)
    assert out.log.startswith("video 1/1: videos/") and out.settings["motion"] == "moves_right/motion.safetensors"
    assert Path(out.mp4).is_absolute() and Path(out.mp4).is_file()  # the file the page serves keeps its path
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    [refused] = tune(h, [broken], name="broken")
    assert "no usable training videos in uploads/" in refused.report

    def refuse():
        raise ValueError(f"cannot read {toy_set[0]}")

    with pytest.raises(gr.Error) as error:
        _page_errors(refuse, h.public)()
    assert error.value.message == "cannot read video_000.mp4"

    shown = [text for u in [*updates, refused] for text in (u.report, u.status)]
    shown += [out.log, json.dumps(out.settings), h.describe_motion("moves_right"), error.value.message]
    assert not [text for text in shown if server in text or str(tmp_path) in text or str(toy_set[0].parent) in text]
    logged = caplog.text
    assert f"video 1/1: {out.mp4}" in logged and f"cannot read {toy_set[0]}" in logged


def test_lamp_ui_listens_on_localhost_without_a_share_link_by_default():
    from lamp_motion.cli.main import build_parser

    args = build_parser().parse_args(["ui"])
    assert (args.host, args.port, args.share, args.data_root) == ("127.0.0.1", 7860, False, None)
    assert args.func(build_parser().parse_args(["ui", "--max-file-mb", "0"])) == 2


def test_zip_uploads_are_limited_in_all_and_refused_uploads_leave_nothing(toy_set, tmp_path):
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as out:
        for index in range(20):
            out.writestr(f"v{index}.mp4", b"x")
    with pytest.raises(UploadError, match="20 videos is over the limit of 16"):
        collect_uploads([many], tmp_path / "many", UploadLimits())
    assert not (tmp_path / "many").exists()  # counted from the zip's directory, nothing extracted or left
    large = tmp_path / "large.zip"
    with zipfile.ZipFile(large, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for index in range(4):
            out.writestr(f"v{index}.mp4", bytes(2**20))  # 1 MB each, under the per-file limit
    with pytest.raises(UploadError, match=r"large.zip: v2.mp4: the upload is over the limit of 2.5 MB in all"):
        collect_uploads([large], tmp_path / "large", UploadLimits(max_file_mb=2, max_total_mb=2.5))
    assert not (tmp_path / "large").exists()


def test_a_zip_entry_with_a_bad_crc_is_named(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as out:  # stored, so the bytes can be damaged in place
        out.writestr("clip.mp4", b"A" * 1000)
    data = bytearray(archive.read_bytes())
    data[data.index(b"A" * 1000) + 500] = ord("B")
    archive.write_bytes(bytes(data))
    with pytest.raises(UploadError, match=r"bad.zip: clip.mp4: cannot be extracted \(Bad CRC-32"):
        collect_uploads([archive], tmp_path / "set", UploadLimits())
    assert not (tmp_path / "set").exists()


def test_listen_addresses_every_interface_is_told_and_ipv6_is_bracketed():
    from lamp_motion.ui.app import listen_address

    assert listen_address("127.0.0.1") == ("127.0.0.1", False)
    assert listen_address("localhost")[1] is False
    assert listen_address("0.0.0.0") == ("0.0.0.0", True)
    assert listen_address("0") == ("0", True)  # the legacy spelling of 0.0.0.0
    assert listen_address("::") == ("[::]", True)
    assert listen_address("[::1]") == ("[::1]", False)
    with pytest.raises(ValueError, match="is not an address or a name this machine can resolve"):
        listen_address("no-such-host.invalid")
