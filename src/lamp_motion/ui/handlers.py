"""What each button of the page does, as plain functions of the fields' values.

The app (:mod:`.app`) binds these to the page; tests call them directly. User errors
raise ValueError (UploadError, the jobs' settings errors) with a message for the page;
the Tune handler instead writes its refusals and the training set's report into the
page's report panel, as `lamp train` prints them. Every text they return for the page
shows paths relative to the page's folders (:mod:`.public`); the server log gets them whole.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..data import scan_videos
from ..errors import SettingError
from ..files import slug
from ..settings import SamplingSettings
from ..video_io import VIDEO_SUFFIXES
from .library import MOTION_FILE, check_name, find_motion, list_motions
from .public import PublicPaths
from .tuning import TuneJob, defaults, tune_config
from .uploads import (
    UploadError,
    UploadLimits,
    check_header_lengths,
    check_source_video,
    check_video_lengths,
    collect_uploads,
    count_videos,
    server_folder,
)

POLL_SECONDS = 0.5  # how often a running tuning updates the page


@dataclass
class UISettings:
    motions: Path = Path("motions")  # the motion library: one subfolder per tuned motion
    work: Path = Path("lamp-ui")  # uploads, generated videos, edits and evaluations
    base: str | None = None  # base model of new tunings (None = the built-in toy base)
    data_root: Path | None = None  # server folders under this root may be picked as training sets
    limits: UploadLimits = field(default_factory=UploadLimits)
    device: str = "auto"  # device of generation and editing


@dataclass
class TuneUpdate:
    """What a tuning shows while it runs."""

    report: str  # the training set's report, or why the request was refused
    status: str  # step, loss, time left; how it ended
    validation: str | None = None  # the latest validation video
    progress: tuple[int, int] | None = None  # (step, total) for the progress bar
    finished: bool = False  # the motion library changed


@dataclass
class VideoOutput:
    """One generated or edited video, for the page."""

    mp4: str
    sheet: str
    files: list[str]  # mp4, gif, contact sheet, settings JSON: each downloadable
    settings: dict
    log: str


class Handlers:
    def __init__(self, settings: UISettings):
        self.settings = settings
        self.running: dict[str, TuneJob] = {}  # tuning runs by browser session, for the cancel button
        self.stops: dict[tuple[str, str], threading.Event] = {}  # stop flags of running generations and edits, by
        # (job kind, browser session)
        self.public = PublicPaths([settings.work, settings.motions, settings.data_root])  # paths as the page shows them

    # ---- the motion library -----------------------------------------------------------
    def motion_names(self) -> list[str]:
        return [entry.name for entry in list_motions(self.settings.motions)]

    def describe_motion(self, name: str | None) -> str:
        if not name:
            return "no motion chosen" if self.motion_names() else "the library is empty: tune a motion first"
        return self.public.text(find_motion(self.settings.motions, name).describe())

    def tune_defaults(self) -> dict[str, int]:
        return defaults(self.settings.base)

    # ---- Tune -------------------------------------------------------------------------
    def prepare_set(self, files: list[str] | None, folder: str | None, name: str, frames: int, height: int,
                    width: int, prompt: str) -> tuple[Path, str, str]:
        """The training folder, its report and the motion prompt; UploadError / DataError when it is refused.

        The prompt, when the field is empty, comes from the set as in `lamp train`: its
        ``prompt.txt``, else the folder's name (an upload's folder is named after the motion)."""
        limits = self.settings.limits
        notes: list[str] = []
        if files and folder:
            raise UploadError("give uploaded videos or a server folder, not both")
        if files:
            data = _new_folder(self.settings.work / "uploads", name) / name
            notes = collect_uploads(files, data, limits)
        elif folder:
            data = server_folder(self.settings.data_root, folder)
            count_videos(data, limits)
        else:
            raise UploadError("no training videos: upload 4-16 videos (or a zip), or pick a server folder")
        check_header_lengths(sorted(e for e in data.iterdir() if e.suffix.lower() in VIDEO_SUFFIXES), limits)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the skipped files are in the report
            video_set = scan_videos(data, int(frames), 1, int(height), int(width), prompt=prompt or None,
                                    max_seconds=limits.max_video_seconds)
        check_video_lengths([(v.path, len(v.frames), v.fps) for v in video_set.videos], limits)
        report = "\n".join([video_set.report(), *notes])
        if len(video_set.videos) < 4:
            report += f"\nnote: {len(video_set.videos)} videos; LAMP learns a motion from 4-16 (one video: an edit)"
        return data, report, video_set.prompt

    def tune(self, files: list[str] | None, folder: str | None, name: str, prompt: str, steps: int, frames: int,
             height: int, width: int, validate_every: int, resume: bool, session: str = "") -> Iterator[TuneUpdate]:
        """Check the request, then train, yielding progress until the run ends."""
        try:
            name = check_name(name or "")
            output_dir = self.settings.motions / name
            _check_output(output_dir, resume)
            data, report, prompt = self.prepare_set(files, folder, name, frames, height, width, prompt)
            config = tune_config(self.settings.base, data, output_dir, prompt, steps, frames, height,
                                 width, validate_every, resume)
        except (ValueError, FileNotFoundError) as error:  # UploadError, DataError, a bad field
            yield TuneUpdate(report=self.public.shown(f"refused: {error}"), status="**refused**: see the report")
            return
        report = self.public.shown(report)
        job = self.running[session] = TuneJob(config).start()
        try:
            while not job.wait(POLL_SECONDS):
                yield TuneUpdate(report, self.public.text(job.status()), _str(job.validation), (job.step, job.total))
        finally:
            # The page went away (a closed tab, a cancelled event): ask for a stop with a checkpoint, as Ctrl-C
            # would, and return at once. Gradio closes this generator on its event loop, so waiting here for the
            # step and the checkpoint would freeze every page; the job finishes in its own thread.
            if not job.wait(0):
                job.stop()
            self.running.pop(session, None)
        status = job.status()
        if job.outcome == "stopped":
            status += " Tick *continue from the last checkpoint* and start again to go on."
        yield TuneUpdate(report, self.public.shown(status), _str(job.validation), (job.step, job.total),
                         finished=job.outcome == "done")

    def cancel(self, session: str = "") -> str:
        job = self.running.get(session)
        if job is None:
            return "no tuning of yours is running"
        job.stop()
        return "stopping after this step; a checkpoint is kept"

    # ---- Generate, Edit, Evaluate -----------------------------------------------------
    def generate(self, motion: str, image: str | None, image_prompt: str, t2i: str, prompt: str, frames: float | None,
                 seed: float, steps: float | None, guidance: float | None, shared_noise: float,
                 motion_scale: float = 1.0, second_motion: str = "", second_weight: float = 1.0,
                 session: str = "") -> VideoOutput:
        """One video; the sampling settings are held to the limits `lamp generate` applies (SettingError before any
        model loads). ``second_motion``: a library motion mixed in at ``second_weight`` (the first's weight: 1).
        :meth:`cancel_generation` stops it at the next denoising step (JobStopped)."""
        from ..jobs import GenerateSettings, generate

        entry = find_motion(self.settings.motions, motion)
        mix: dict = {"motion": entry.path}
        if second_motion:
            mix = {"motion": [entry.path, find_motion(self.settings.motions, second_motion).path],
                   "motion_weights": (1.0, float(second_weight))}
        lines: list[str] = []
        settings = GenerateSettings(
            **mix, prompt=_required(prompt, "prompt"), out=_new_folder(self.settings.work / "videos", prompt),
            image=image or None, t2i=(t2i or "").strip() or None, image_prompt=(image_prompt or "").strip() or None,
            sampling=SamplingSettings(frames=_int(frames, "frames"), sampling_steps=_int(steps, "sampling_steps"),
                                      guidance=float(guidance) if guidance else None, shared_noise=float(shared_noise),
                                      motion_scale=float(motion_scale)),
            seed=_int(seed, "seed") or 0, device=self.settings.device)
        with self._stop_flag("generation", session) as stop:
            result = generate(settings, log=lines.append, stop=stop)
        return self._video_output(result.videos[0], result.settings, lines)

    def cancel_generation(self, session: str = "") -> str:
        """Ask the session's generation to stop at its next denoising step; returns at once."""
        return self._cancel("generation", session, "denoising step")

    def edit(self, motion: str, video: str | None, image: str | None, prompt: str, steps: float | None,
             seed: float, session: str = "") -> VideoOutput:
        """One edited video. :meth:`cancel_edit` stops it at its next inversion or denoising step (JobStopped)."""
        from ..jobs import EditSettings, edit

        entry = find_motion(self.settings.motions, motion)
        if not video:
            raise UploadError("no source video: upload the video the motion was tuned on")
        if not image:
            raise UploadError("no edited first frame: upload the source's first frame, edited")
        check_source_video(Path(video), self.settings.limits)
        lines: list[str] = []
        settings = EditSettings(motion=entry.path, video=Path(video), prompt=_required(prompt, "prompt"), image=image,
                                out=_new_folder(self.settings.work / "edits", prompt),
                                sampling=SamplingSettings(sampling_steps=_int(steps, "sampling_steps")),
                                seed=_int(seed, "seed") or 0, device=self.settings.device)
        with self._stop_flag("edit", session) as stop:
            result = edit(settings, log=lines.append, stop=stop)
        return self._video_output(result.video, result.settings, lines)

    def cancel_edit(self, session: str = "") -> str:
        """Ask the session's edit to stop at its next inversion or denoising step; returns at once."""
        return self._cancel("edit", session, "inversion or denoising step")

    @contextmanager
    def _stop_flag(self, kind: str, session: str) -> Iterator[threading.Event]:
        """A stop flag for the session's job of this kind while it runs (a newer job of the kind replaces it)."""
        key = (kind, session)
        stop = self.stops[key] = threading.Event()
        try:
            yield stop
        finally:
            if self.stops.get(key) is stop:
                del self.stops[key]

    def _cancel(self, kind: str, session: str, step: str) -> str:
        stop = self.stops.get((kind, session))
        if stop is None:
            return f"no {kind} of yours is running"
        stop.set()
        return f"stopping at the next {step}"

    def batches(self) -> list[str]:
        """Finished batches (generate and edit runs), newest first, relative to the work folder."""
        work = self.settings.work
        runs = [p for kind in ("videos", "edits") for p in (work / kind).glob("*") if p.is_dir()]
        return [str(p.relative_to(work)) for p in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)]

    def evaluate(self, batch: str, clip: str) -> tuple[str, list[str]]:
        """The evaluation's Markdown tables and its files (eval.json, eval.md)."""
        from ..jobs import EvaluateSettings, evaluate

        if batch not in self.batches():
            raise ValueError(f"batch {batch!r} is not a finished batch; choose one from the list")
        folder = self.settings.work / batch
        clip = (clip or "").strip()
        settings = EvaluateSettings(inputs=[folder], clip=clip or None, no_clip=not clip, out=folder / "eval",
                                    device=None if self.settings.device == "auto" else self.settings.device)
        result = evaluate(settings, log=lambda line: None)
        return self.public.text(result.markdown), [str(result.json_path), str(result.md_path)]

    def _video_output(self, video, settings: dict, lines: list[str]) -> VideoOutput:
        """``lines``: what the job logged (its notes among them). The files keep their paths (the page serves them);
        the log and the settings show them relative."""
        files = [str(p) for p in (video.mp4, video.gif, video.sheet, video.json)]
        return VideoOutput(str(video.mp4), str(video.sheet), files, self.public.value(settings),
                           self.public.shown("\n".join(lines)))


def _check_output(output_dir: Path, resume: bool) -> None:
    if (output_dir / MOTION_FILE).exists() and not resume:
        raise ValueError(f"a motion named {output_dir.name!r} is in the library already; choose another name")
    if resume and not (output_dir / "checkpoints").is_dir():
        raise ValueError(f"there is no checkpoint of {output_dir.name!r} to continue from; untick continue")
    if not resume and (output_dir / "checkpoints").is_dir():
        raise ValueError(f"a stopped run named {output_dir.name!r} has checkpoints; tick continue from the last "
                         f"checkpoint, or choose another name")


def _new_folder(parent: Path, label: str) -> Path:
    """A new folder name under ``parent``: time stamp and the label's slug (not created)."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(label or 'run')[:40]}"
    path, index = parent / stem, 2
    while path.exists():
        path, index = parent / f"{stem}-{index}", index + 1
    return path


def _required(text: str | None, name: str) -> str:
    if not (text or "").strip():
        raise ValueError(f"{name} is empty; describe the video to make")
    return text.strip()


def _int(value: float | None, name: str) -> int | None:
    """The whole-number field ``name``; empty or 0 means the default (None)."""
    if value and not math.isfinite(value):
        raise SettingError(f"{{{name}}}={value} is not a whole number", name)
    return int(value) if value else None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
