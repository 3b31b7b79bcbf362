"""Evaluate: CLIP scores (and the toy world's motion metrics) of generated videos, and the paper's suite.

Inputs of :class:`EvaluateSettings`, in any mix:

* a JSON file that generation writes for each video: ``"prompt"``, ``"motion"`` and
  ``"videos": {"mp4": path, "gif": path}`` (paths relative to the JSON's folder). The mp4
  is scored when there is one (near-lossless H.264), else the GIF (256 colours);
* a video file (``.mp4``, ``.gif``, ...): its prompt and motion come from the JSON beside
  it with the same name (``clip.mp4`` -> ``clip.json``), or from a generate JSON in its
  folder that lists it;
* a folder: searched recursively for generate JSON files and for videos; a video that a
  generate JSON lists is scored once, through that JSON.

Every video whose training videos are known (``training_set``, else the training folder
its motion file's config records, when it still exists) gets the motion score of
:mod:`lamp_motion.metrics.motion` against them: per video and per motion, beside CLIP.

Videos whose prompt is a toy caption with a toy motion ("a red circle moves right"), or
made with a motion trained on a toy motion's prompt, also get the toy world's motion
metrics (:mod:`lamp_motion.metrics.toy`); ``no_clip`` scores only those, without
any CLIP model. Every score of a generate JSON's video is computed on the exact frames
of its PNG contact sheet when it lists one (else on the video file). The toy metrics include ``leakage`` towards the
training videos' colours and backgrounds: those of ``training_set``, else of the
training folder the motion file's config records (``data:``, relative to the current
folder) when it still exists; otherwise leakage is left out, with a note.

:func:`run_suite` runs the paper's protocol instead: for each motion its evaluation
prompts (the paper's six for its eight motions, else from a prompts file), one video per
prompt and seed made in one load by :func:`lamp_motion.jobs.many_videos.make_videos` (split
across processes under accelerate, the main process scoring), scored as above, with a table
next to the paper's Table 1.

Both write ``eval.json`` and ``eval.md`` into ``out``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SettingError, name_settings
from ..files import write_text_atomic
from ..settings import SamplingSettings, takes_sampling_keywords
from ..video_io import VIDEO_SUFFIXES, VideoReadError, frames_from_contact_sheet, read_video
from .common import Log, check_out

if TYPE_CHECKING:
    import numpy as np

    from ..metrics.clip_metrics import ClipScorer
    from ..models.motion_file import MotionFile

UNSPECIFIED_MOTION = "unspecified"  # motion label of videos whose JSON names none
_PREFERRED_FORMATS = ("mp4", "gif")
# Suite settings passed on to generation besides ``sampling`` (None: generation's default).
GENERATE_OPTIONS = ("t2i", "t2i_steps", "t2i_guidance", "base", "dtype")


class EvalInputError(ValueError):
    """An input that cannot be scored; the message names it and says what it needs."""


@dataclass(frozen=True)
class VideoEntry:
    """One video to score and what it was generated from."""

    path: Path
    prompt: str
    motion: str
    toy_motion: str | None = None  # the toy motion the video shows, when it comes from one
    training_data: Path | None = None  # the existing training folder the video's motion file records
    sheet: tuple[Path, int, int, int] | None = None  # a generate JSON's contact sheet: (path, frames, height, width)


@dataclass
class EvaluateSettings:
    """What :func:`evaluate` scores and how."""

    inputs: Sequence[str | os.PathLike[str]] = ()  # generate JSON files, videos or folders of them
    clip: str | None = None  # CLIP model, hub id or folder (default: openai/clip-vit-large-patch14)
    no_clip: bool = False  # only the toy world's motion metrics, for videos of toy motions
    out: str | os.PathLike[str] = "eval"  # folder for eval.json and eval.md (and the suite's videos)
    device: str | None = None  # torch device (default: cuda when available, else cpu)
    training_set: str | os.PathLike[str] | None = None  # training videos' folder: the motion score, the toy leakage


@takes_sampling_keywords
@dataclass
class SuiteSettings(EvaluateSettings):
    """The paper's protocol for ``motions``: its prompts per motion, fixed seeds, the videos made and scored.

    The generation settings left None, and ``sampling``'s, take generation's defaults (the motion
    file's own); the sampling settings may also be given as keywords of their own, as for GenerateSettings.
    """

    motions: Sequence[str | os.PathLike[str]] = ()  # motion files to evaluate
    prompts: str | os.PathLike[str] | None = None  # YAML of prompts for motions that are not the paper's
    seed: int = 0  # first seed of every prompt
    num_videos: int = 1  # videos per prompt, seeds seed, seed + 1, ... (the paper: 1)
    t2i: str | None = None  # first frames from this text-to-image model (the paper: SD-XL); default: the base
    t2i_steps: int | None = None
    t2i_guidance: float | None = None
    sampling: SamplingSettings = field(default_factory=SamplingSettings)  # the video model's settings
    base: str | None = None
    dtype: str | None = None


@dataclass
class EvaluateResult:
    """The report (as written to eval.json), its markdown tables, and the two files written."""

    report: dict
    markdown: str
    json_path: Path
    md_path: Path


def evaluate(settings: EvaluateSettings, log: Log | None = print,
             setting_names: Mapping[str, str] | None = None) -> EvaluateResult:
    """Score the videos that ``settings.inputs`` name; write eval.json and eval.md.

    ``setting_names``: how the caller names the settings in the report's notes (default: field names)."""
    if not settings.inputs:
        raise SettingError("give the videos to score ({inputs}: generate JSON files, videos or folders)", "inputs")
    entries = collect_videos([Path(p) for p in settings.inputs])
    known = settings.training_set is not None or any(entry.training_data for entry in entries)
    if settings.no_clip and not known and not any(entry.toy_motion for entry in entries):
        raise SettingError(f"{{no_clip}} leaves nothing to score: none of the {len(entries)} video(s) comes from a toy "
                           f"motion (a prompt like \"a red circle moves right\") or has known training videos for "
                           f"the motion score ({{training_set}} DIR); leave out {{no_clip}} for CLIP scores",
                           "no_clip", "training_set")
    check_out(settings.out)  # before the CLIP model loads
    report = evaluate_entries(entries, _scorer(settings), _path(settings.training_set), setting_names)
    return _write(Path(settings.out), report, report_markdown(report), log)


def run_suite(settings: SuiteSettings, log: Log | None = print,
             setting_names: Mapping[str, str] | None = None) -> EvaluateResult | None:
    """Generate the evaluation videos of each motion with fixed seeds, score them, and compare with Table 1.

    Under accelerate the videos are split across the processes and the main process scores them
    (the others return None); a rerun with the same ``out`` makes only the videos still missing.
    ``setting_names``: as for :func:`evaluate`."""
    from ..files import slug
    from ..metrics import paper
    from ..metrics.suite import resolve_motions, suite_to_markdown
    from ..metrics.toy import toy_motion_for
    from ..models import read_motion_header
    from .generate import GenerateSettings
    from .many_videos import make_videos

    say = log or (lambda _: None)
    if settings.inputs:
        raise SettingError(f"the suite makes its own videos; leave out {{inputs}} "
                           f"{', '.join(map(str, settings.inputs))}", "inputs")
    if not settings.motions:
        raise SettingError("the suite needs the motion files to evaluate: {motions} FILE [...]", "motions")
    if settings.num_videos < 1:
        raise SettingError(f"{{num_videos}}={settings.num_videos} must be at least 1", "num_videos")
    seeds = [settings.seed + i for i in range(settings.num_videos)]
    motions = resolve_motions(list(settings.motions), settings.prompts)
    for motion in motions:
        names = [slug(p.prompt) for p in motion.prompts.prompts]
        clash = next((p.prompt for p, name in zip(motion.prompts.prompts, names) if names.count(name) > 1), None)
        if clash is not None:
            raise EvalInputError(f"motion {motion.name!r}: prompts such as {clash!r} share the file name {slug(clash)!r}; "
                                 f"make their first 40 letters differ")
    if settings.no_clip and not any(toy_motion_for(p.prompt, read_motion_header(m.path).prompt)
                                    for m in motions for p in m.prompts.prompts):
        raise SettingError("{no_clip} leaves nothing to score: no motion of the suite is a toy motion", "no_clip")
    out = Path(settings.out)
    check_out(out)
    main = _is_main_process()
    scorer = _scorer(settings) if main else None  # load (or fail) before the long generation


    given = {name: getattr(settings, name) for name in GENERATE_OPTIONS if getattr(settings, name) is not None}
    options = {**given, **settings.sampling.changed()}  # as the videos' JSON names them
    generation = GenerateSettings(motion=None, out=out / "videos", device=settings.device or "auto",
                                  sampling=settings.sampling, **given)
    videos, names = [], []
    for motion in motions:
        say(f"motion {motion.name}: {motion.path}, {len(motion.prompts.prompts)} prompts x {len(seeds)} seed(s)")
        videos += [replace(generation, motion=motion.path, out=out / "videos" / motion.name, prompt=p.prompt,
                           image_prompt=p.image_prompt, seed=s) for p in motion.prompts.prompts for s in seeds]
        names += [motion.name] * len(motion.prompts.prompts) * len(seeds)
    made = make_videos(generation, videos, log)  # one load of each base and motion; split across processes
    if made.missing:
        raise EvalInputError(f"{len(made.missing)} of the suite's {len(videos)} videos are missing (see {made.manifest}); "
                             f"run the suite again with the same output folder to make only those")
    if not main:
        return None  # the main process scores the videos
    entries = [replace(_entry_from_record(video.json, _read_record(video.json)), motion=name)
               for video, name in zip(made.videos, names)]
    report = evaluate_entries(entries, scorer, _path(settings.training_set), setting_names)
    report["suite"] = {
        "motions": [{"name": m.name, "motion_file": str(m.path), "prompts_from": m.prompts.source,
                     "prompts": [vars(p) for p in m.prompts.prompts]} for m in motions],
        "seeds": seeds, "generate_options": options, "paper_table_1": paper.TABLE_1}
    described = (f"seeds {', '.join(map(str, seeds))} per prompt; first frames from {settings.t2i or 'the base model'}; "
                 + (", ".join(f"{name} {value}" for name, value in options.items() if name != "t2i")
                    or "`lamp generate` defaults"))
    markdown = report_markdown(report, per_motion=scorer is None)
    if scorer is not None:  # the suite's table replaces the per-motion one
        markdown = suite_to_markdown(report, motions, described) + "\n" + markdown
    return _write(out, report, markdown, log)


def _is_main_process() -> bool:
    """True but in the other processes of an accelerate launch."""
    from accelerate import PartialState

    return PartialState().is_main_process


def evaluate_entries(entries: Sequence[VideoEntry], scorer: ClipScorer | None = None,
                     training_set: Path | None = None, setting_names: Mapping[str, str] | None = None) -> dict:
    """CLIP scores (when given a ``scorer``) and toy metrics (for toy videos) of ``entries``, as a JSON-ready dict.

    ``training_set``: the training videos' folder for every toy video's leakage
    (default: each one's ``training_data``).
    """
    from ..metrics.toy import palette_from_folder, toy_report

    frames, readable, skipped = [], [], []
    for entry in entries:
        try:
            frames.append(_exact_frames(entry))
            readable.append(entry)
        except VideoReadError as error:
            skipped.append({"video": str(entry.path), "reason": error.reason})
    if not readable:
        raise EvalInputError("no video could be read: " + "; ".join(f"{s['video']}: {s['reason']}" for s in skipped))
    entries = readable
    names = [str(entry.path) for entry in entries]
    report: dict = {"skipped": skipped} if skipped else {}
    if scorer is not None:
        report.update(scorer.evaluate([(f, e.prompt, e.motion) for f, e in zip(frames, entries)], names=names))
    report.update(_motion_part(entries, frames, names, training_set, setting_names))
    toy = [i for i, entry in enumerate(entries) if entry.toy_motion]
    if toy:
        folders = [training_set or entries[i].training_data for i in toy]
        palettes = {folder: palette_from_folder(folder) for folder in dict.fromkeys(folders) if folder is not None}
        videos = [(frames[i], entries[i].prompt, entries[i].toy_motion) for i in toy]
        report["toy"] = toy_report(videos, [names[i] for i in toy], [palettes.get(folder) for folder in folders])
        report["toy"]["training_sets"] = [None if folder is None else str(folder) for folder in folders]
        unknown = folders.count(None)
        if unknown:
            report["toy"]["notes"] = [f"leakage left out for {unknown} of {len(toy)} toy video(s): their motion file "
                                      + name_settings("records no training folder that exists here; give it with {training_set} DIR",
                                                    setting_names, "training_set")]
    return report


def _motion_part(entries: Sequence[VideoEntry], frames: Sequence, names: Sequence[str], training_set: Path | None,
                 setting_names: Mapping[str, str] | None) -> dict:
    """``{"motion": ...}``: the motion score of every video whose training videos are known (else a note)."""
    from ..metrics.motion import folder_references, motion_report

    folders = [training_set or entry.training_data for entry in entries]
    known = [i for i, folder in enumerate(folders) if folder is not None]
    note = (name_settings("motion score left out for {count} of {total} video(s): their training videos are unknown "
                          "(the motion file records no training folder that exists here); give them with "
                          "{training_set} DIR", setting_names, "training_set")
            .replace("{count}", str(len(entries) - len(known))).replace("{total}", str(len(entries))))
    if not known:
        return {"motion": {"notes": [note]}}
    references = {folder: folder_references(folder) for folder in dict.fromkeys(folders[i] for i in known)}
    report = motion_report([(frames[i], entries[i].motion) for i in known], [names[i] for i in known],
                           [references[folders[i]] for i in known], [str(folders[i]) for i in known])
    if len(known) < len(entries):
        report["notes"] = [note]
    return {"motion": report}


def _exact_frames(entry: VideoEntry) -> np.ndarray:
    """A video's frames: its generate JSON's contact sheet when it has one (the exact frames; the mp4 is lossy and
    libx264's output is not repeatable bit for bit), else the video file."""
    if entry.sheet is not None:
        try:
            return frames_from_contact_sheet(*entry.sheet)
        except (OSError, ValueError):
            pass  # a damaged sheet: the video file itself
    return read_video(entry.path)[0]


def report_markdown(report: dict, per_motion: bool = True) -> str:
    """The CLIP tables (when scored; the per-motion one unless not ``per_motion``) and the toy tables (for toy videos)."""
    from ..metrics.clip_metrics import report_to_markdown
    from ..metrics.motion import motion_report_to_markdown
    from ..metrics.toy import toy_report_to_markdown

    parts = [report_to_markdown(report, per_motion)] if "clip_model" in report else []
    if report.get("motion", {}).get("videos"):
        parts.append(motion_report_to_markdown(report["motion"]))
    elif report.get("motion"):
        parts += [f"{text}\n" for text in report["motion"]["notes"]]
    if "toy" in report:
        parts.append(toy_report_to_markdown(report["toy"]))
    if report.get("skipped"):
        lines = [f"Skipped {len(report['skipped'])} video(s) that could not be read:", ""]
        parts.append("\n".join(lines + [f"- {row['video']}: {row['reason']}" for row in report["skipped"]]) + "\n")
    return "\n".join(parts)


def _scorer(settings: EvaluateSettings) -> ClipScorer | None:
    from ..metrics.clip_metrics import DEFAULT_CLIP_MODEL, ClipScorer

    if settings.no_clip:
        if settings.clip is not None:
            raise SettingError("{clip} and {no_clip} contradict each other; give one", "clip", "no_clip")
        return None
    return ClipScorer.from_pretrained(settings.clip or DEFAULT_CLIP_MODEL, device=settings.device)


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None else Path(value)


def _write(out: Path, report: dict, markdown: str, log: Log | None) -> EvaluateResult:
    json_path = write_text_atomic(out / "eval.json", json.dumps(report, indent=2) + "\n")
    md_path = write_text_atomic(out / "eval.md", markdown)
    if log is not None:
        log(markdown)
        log(f"wrote {json_path} and {md_path}")
    return EvaluateResult(report=report, markdown=markdown, json_path=json_path, md_path=md_path)


def collect_videos(inputs: Sequence[Path]) -> list[VideoEntry]:
    """The videos that ``inputs`` name, each once, with their prompts and motions."""
    records: list[Path] = []
    explicit_videos: list[Path] = []
    found_videos: list[Path] = []
    for path in inputs:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            folder_records = [p for p in files if p.suffix.lower() == ".json" and _is_record(p)]
            folder_videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
            if not folder_records and not folder_videos:
                raise EvalInputError(f"{path} holds no videos ({', '.join(VIDEO_SUFFIXES)}) and no JSON files written by `lamp generate`")
            records += folder_records
            found_videos += folder_videos
        elif not path.exists():
            raise EvalInputError(f"{path} does not exist")
        elif path.suffix.lower() == ".json":
            records.append(path)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            explicit_videos.append(path)
        else:
            raise EvalInputError(f"cannot score {path}: give a JSON written by `lamp generate`, a video ({', '.join(VIDEO_SUFFIXES)}) or a folder")
    entries: dict[Path, VideoEntry] = {}
    listed: set[Path] = set()  # every video file any record names, in any format
    for record in records:
        data = _read_record(record)
        listed.update(path.resolve() for path in _record_videos(record, data).values())
        entry = _entry_from_record(record, data)
        entries.setdefault(entry.path.resolve(), entry)
    for video in explicit_videos + [v for v in found_videos if v.resolve() not in listed]:
        if video.resolve() not in entries:
            entries[video.resolve()] = VideoEntry(video, *_prompt_for(video))
    return list(entries.values())


def _is_record(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("videos"), dict)


def _read_record(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise EvalInputError(f"cannot read {path} as JSON: {error}") from error
    if not isinstance(data, dict):
        raise EvalInputError(f"{path} holds {type(data).__name__}, not an object with \"prompt\", \"motion\" and \"videos\"")
    return data


def _record_videos(path: Path, data: dict) -> dict[str, Path]:
    """Format -> video path of a generate record, resolved against the record's folder."""
    videos = data.get("videos")
    if not isinstance(videos, dict) or not videos:
        raise EvalInputError(f"{path} lists no videos: a JSON written by `lamp generate` has \"videos\": {{\"mp4\": ..., \"gif\": ...}}")
    found = {str(kind): path.parent / str(location) for kind, location in videos.items()}
    folder = path.parent.resolve()
    for location in found.values():
        if not location.resolve().is_relative_to(folder):
            raise EvalInputError(f"{path} names the video {location}, outside the JSON's own folder {path.parent}; "
                                 f"`lamp generate` writes videos beside their JSON, so this one is not followed: "
                                 f"score that video file directly, or move the JSON next to it")
    return found


def _entry_from_record(path: Path, data: dict) -> VideoEntry:
    videos = _record_videos(path, data)
    chosen = next((videos[kind] for kind in _PREFERRED_FORMATS if kind in videos), next(iter(videos.values())))
    if not chosen.is_file():
        raise EvalInputError(f"{path} names the video {chosen}, which does not exist")
    sizes = [data.get(key) for key in ("num_frames_written", "height", "width")]
    sheet = videos.get("sheet")
    lossless = (sheet, *sizes) if sheet is not None and sheet.is_file() and all(isinstance(v, int) for v in sizes) else None
    return VideoEntry(chosen, *_prompt_and_motion(path, data), sheet=lossless)


def _prompt_for(video: Path) -> tuple[str, str, str | None, Path | None]:
    """Prompt, motion, toy motion and training folder of a video from its same-name JSON, or from a generate JSON listing it."""
    sidecar = video.with_suffix(".json")
    if sidecar.is_file():
        return _prompt_and_motion(sidecar, _read_record(sidecar))
    for record in sorted(video.parent.glob("*.json")):
        if _is_record(record):
            data = _read_record(record)
            if video.resolve() in {p.resolve() for p in _record_videos(record, data).values()}:
                return _prompt_and_motion(record, data)
    raise EvalInputError(f"no prompt known for {video}: score the JSON that `lamp generate` wrote for it, or put "
                         f"{sidecar.name} beside it with {{\"prompt\": \"...\", \"motion\": \"...\"}}")


def _prompt_and_motion(path: Path, data: dict) -> tuple[str, str, str | None, Path | None]:
    """A JSON's prompt, motion label, the toy motion its video shows (None when it is no toy video) and its training folder."""
    from ..metrics.toy import toy_motion_for

    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise EvalInputError(f"{path} has no \"prompt\"; add the prompt the video was generated from "
                             f"(\"prompt\": \"...\") so that its text alignment can be scored")
    motion = data.get("motion")
    if isinstance(motion, list):  # a mix of motions: labelled by its motions; no one training set to score against
        label = " + ".join(_motion_label(str(m)) for m in motion)
    else:
        label = UNSPECIFIED_MOTION if motion is None else _motion_label(str(motion))
    header = _motion_header(path, data)
    motion_prompt = data.get("motion_prompt")  # the training prompt of the video's motion: the JSON's, else the file's
    if not isinstance(motion_prompt, str):
        motion_prompt = None if header is None else header.prompt
    toy_motion = toy_motion_for(prompt, motion_prompt)
    return prompt, label, toy_motion, _training_data(header)


def _motion_header(path: Path, data: dict) -> MotionFile | None:
    """The header of the motion file the JSON's "motion" names, if it is there and readable."""
    from ..models.motion_file import MotionFileError, read_motion_header

    motion = data.get("motion")
    if not isinstance(motion, str) or not motion.endswith(".safetensors"):
        return None
    for candidate in (Path(motion), path.parent / motion):
        if candidate.is_file():
            try:
                return read_motion_header(candidate)
            except MotionFileError:
                return None
    return None


def _training_data(header: MotionFile | None) -> Path | None:
    """The training folder a motion file's config records (``data:``, relative to the current folder), if it exists."""
    data = header.training_data if header is not None else None
    return Path(data) if data is not None and Path(data).is_dir() else None


def _motion_label(motion: str) -> str:
    """A motion's name: as given, or the file or folder name when the JSON holds a path to it."""
    if "/" in motion or "\\" in motion or motion.endswith(".safetensors"):
        return Path(motion.replace("\\", "/").rstrip("/")).name.removesuffix(".safetensors")
    return motion
