"""``lamp eval INPUT... [--clip MODEL | --no-clip] [--out DIR]``: CLIP scores (and toy metrics) of generated videos.

Inputs, in any mix:

* a JSON file that ``lamp generate`` writes for each video: ``"prompt"``, ``"motion"``
  and ``"videos": {"mp4": path, "gif": path}`` (paths relative to the JSON's folder).
  The mp4 is scored when there is one (near-lossless H.264), else the GIF (quantised to
  256 colours);
* a video file (``.mp4``, ``.gif``, ...): its prompt and motion come from the JSON
  beside it with the same name (``clip.mp4`` -> ``clip.json``), or from a generate JSON
  in its folder that lists it;
* a folder: searched recursively for generate JSON files and for videos; a video
  that a generate JSON lists is scored once, through that JSON.

Videos whose prompt is a toy caption with a toy motion ("a red circle moves right"),
or that were made with a motion trained on a toy motion's prompt, also get the toy
world's motion metrics (:mod:`lamp_motion.metrics.toy_eval`); ``--no-clip`` scores
only those, without any CLIP model. The toy metrics of a generate JSON's video are
computed on the exact frames of its PNG contact sheet when it lists one (the mp4's
compression and the GIF's palette shift small objects' colours). They include
``leakage`` towards the training videos' colours and backgrounds: those of
``--training-set DIR``, else of the training folder the motion file's config records
(``data:``, relative to the current folder as `lamp train` read it) when it still
exists; otherwise leakage is left out, with a note.

``lamp eval --suite --motion FILE [--motion FILE ...]`` runs the paper's protocol
instead: for each motion its evaluation prompts (the paper's six for its eight
motions, else from ``--prompts FILE``), one video per prompt and seed made by the
code of ``lamp generate``, scored as above, with a table next to the paper's Table 1.

Writes ``eval.json`` and ``eval.md`` into ``--out`` and prints the markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..files import check_output_folder, write_text_atomic
from ..video_io import VIDEO_SUFFIXES, VideoReadError, read_video
from ._errors import run_with_user_errors
from .generate import DTYPES

if TYPE_CHECKING:
    from ..metrics.clip_metrics import ClipScorer
    from ..models.motion_file import MotionFile

UNSPECIFIED_MOTION = "unspecified"  # motion label of videos whose JSON names none
_PREFERRED_FORMATS = ("mp4", "gif")


class EvalInputError(ValueError):
    """An input that cannot be scored; the message names it and says what it needs."""


@dataclass(frozen=True)
class VideoEntry:
    """One video to score and what it was generated from."""

    path: Path
    prompt: str
    motion: str
    toy_motion: str | None = None  # the toy motion the video shows, when it comes from one
    training_data: Path | None = None  # toy videos: the existing training folder their motion file records
    sheet: tuple[Path, int, int, int] | None = None  # a generate JSON's contact sheet: (path, frames, height, width)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="CLIP alignment, consistency and diversity of generated videos; the paper's protocol with --suite",
        description="Score videos with CLIP as in the LAMP paper (Table 1): text alignment and frame consistency "
                    "(higher is better), diversity across videos (lower is more diverse); per video, per motion "
                    "and overall. Videos of a toy motion also get the toy world's motion metrics. With --suite, "
                    "generate the paper's evaluation videos for your motion files first.")
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT",
                        help="a JSON file written by `lamp generate`, a video file (.mp4, .gif) with such a JSON "
                             "beside it, or a folder of them (none with --suite)")
    parser.add_argument("--clip", default=None, metavar="MODEL",
                        help="CLIP model: a hub id or a local folder (default: openai/clip-vit-large-patch14)")
    parser.add_argument("--no-clip", action="store_true",
                        help="no CLIP scores: only the toy world's motion metrics, for videos of toy motions")
    parser.add_argument("--out", type=Path, default=Path("eval"), metavar="DIR",
                        help="folder for eval.json and eval.md, and the suite's videos (default: %(default)s)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--training-set", type=Path, default=None, metavar="DIR",
                        help="folder of the training videos, for the toy metrics' leakage (default: the folder the "
                             "motion file's config records, if it still exists)")
    suite = parser.add_argument_group(
        "suite", "--suite: make the paper's evaluation videos (its prompts per motion, fixed seeds) with `lamp "
                 "generate`'s code, score them, and compare with the paper's Table 1. Generation options left out "
                 "take `lamp generate`'s defaults.")
    suite.add_argument("--suite", action="store_true", help="run the paper's evaluation protocol")
    suite.add_argument("--motion", action="append", default=None, metavar="FILE",
                       help="a motion file to evaluate (repeat for several)")
    suite.add_argument("--prompts", default=None, metavar="FILE",
                       help="YAML of evaluation prompts for motions that are not the paper's: "
                            "motion: [prompt, ...] (matched to a motion file's prompt, file or folder name)")
    suite.add_argument("--seed", type=int, default=None, help="first seed of every prompt (default: 0)")
    suite.add_argument("--num-videos", type=int, default=None,
                       help="videos per prompt, with seeds seed, seed+1, ... (default: 1, as in the paper)")
    suite.add_argument("--t2i", default=None, metavar="MODEL",
                       help="first frames from this diffusers text-to-image model (the paper: SD-XL); default: the base")
    suite.add_argument("--t2i-steps", type=int, default=None, help="steps of the first-frame model")
    suite.add_argument("--t2i-guidance", type=float, default=None, help="guidance of the first-frame model")
    suite.add_argument("--steps", type=int, default=None, help="DDIM steps of the video model")
    suite.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    suite.add_argument("--shared-noise", type=float, default=None, help="shared-noise weight alpha")
    suite.add_argument("--height", type=int, default=None, help="video height (default: the motion's training size)")
    suite.add_argument("--width", type=int, default=None, help="video width (default: the motion's training size)")
    suite.add_argument("--frames", type=int, default=None, help="frames per video (default: the motion's window)")
    suite.add_argument("--base", default=None, help="base model (default: the one each motion was trained on)")
    suite.add_argument("--dtype", default=None, choices=DTYPES, help="weights dtype of generation (default: auto)")
    parser.set_defaults(func=run)


# Suite options -> the `lamp generate` options they are passed on as.
_GENERATE_OPTIONS = {"t2i": "--t2i", "t2i_steps": "--t2i-steps", "t2i_guidance": "--t2i-guidance", "steps": "--steps",
                     "guidance": "--guidance", "shared_noise": "--shared-noise", "height": "--height",
                     "width": "--width", "frames": "--frames", "base": "--base", "dtype": "--dtype"}
_SUITE_ONLY = ("motion", "prompts", "seed", "num_videos", *_GENERATE_OPTIONS)


def run(args: argparse.Namespace) -> int:
    return run_with_user_errors(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from ..metrics.clip_metrics import ClipModelError

    try:
        return run_suite(args) if args.suite else run_inputs(args)
    except ClipModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def run_inputs(args: argparse.Namespace) -> int:
    """Score the videos the inputs name."""
    given = [f"--{name.replace('_', '-')}" for name in _SUITE_ONLY if getattr(args, name) is not None]
    if given:
        raise EvalInputError(f"{', '.join(given)}: suite option(s), used only with --suite")
    if not args.inputs:
        raise EvalInputError("give the videos to score (INPUT: generate JSON files, videos or folders), or --suite")
    entries = collect_videos(args.inputs)
    if args.no_clip and not any(entry.toy_motion for entry in entries):
        raise EvalInputError(f"--no-clip leaves nothing to score: none of the {len(entries)} video(s) comes from a toy "
                             f"motion (a prompt like \"a red circle moves right\"); leave out --no-clip for CLIP scores")
    check_output_folder(args.out, "--out")  # before the CLIP model loads
    report = evaluate_entries(entries, _scorer(args), args.training_set)
    _write(args.out, report, report_markdown(report))
    return 0


def run_suite(args: argparse.Namespace) -> int:
    """Generate the evaluation videos of each motion with fixed seeds, score them, and compare with Table 1."""
    from ..metrics import paper
    from ..metrics.suite import resolve_motions, suite_to_markdown
    from ..metrics.toy_eval import toy_motion_for
    from ..models import read_motion_header
    from ..pipelines.outputs import slug
    from .generate import generate_videos

    if args.inputs:
        raise EvalInputError(f"--suite makes its own videos; leave out the INPUT(s) {', '.join(map(str, args.inputs))}")
    if not args.motion:
        raise EvalInputError("--suite needs the motion files to evaluate: --motion FILE [--motion FILE ...]")
    seed, num_videos = args.seed if args.seed is not None else 0, args.num_videos if args.num_videos is not None else 1
    if num_videos < 1:
        raise EvalInputError(f"--num-videos={num_videos} must be at least 1")
    seeds = [seed + i for i in range(num_videos)]
    motions = resolve_motions(args.motion, args.prompts)
    for motion in motions:
        names = [slug(p.prompt) for p in motion.prompts.prompts]
        clash = next((p.prompt for p, name in zip(motion.prompts.prompts, names) if names.count(name) > 1), None)
        if clash is not None:
            raise EvalInputError(f"motion {motion.name!r}: prompts such as {clash!r} share the file name {slug(clash)!r}; "
                                 f"make their first 40 letters differ")
    if args.no_clip and not any(toy_motion_for(p.prompt, read_motion_header(m.path).prompt)
                                for m in motions for p in m.prompts.prompts):
        raise EvalInputError("--no-clip leaves nothing to score: no motion of the suite is a toy motion")
    check_output_folder(args.out, "--out")
    scorer = _scorer(args)  # load (or fail) before the long generation

    entries = []
    for motion in motions:
        print(f"motion {motion.name}: {motion.path}, {len(motion.prompts.prompts)} prompts x {len(seeds)} seed(s)")
        jobs = [(p.prompt, p.image_prompt, s) for p in motion.prompts.prompts for s in seeds]
        for record in generate_videos(_generate_args(args, motion.path, args.out / "videos" / motion.name), jobs):
            entries.append(replace(_entry_from_record(record, _read_record(record)), motion=motion.name))
    report = evaluate_entries(entries, scorer, args.training_set)
    options = {name: getattr(args, name) for name in _GENERATE_OPTIONS if getattr(args, name) is not None}
    report["suite"] = {
        "motions": [{"name": m.name, "motion_file": str(m.path), "prompts_from": m.prompts.source,
                     "prompts": [vars(p) for p in m.prompts.prompts]} for m in motions],
        "seeds": seeds, "generate_options": options, "paper_table_1": paper.TABLE_1}
    settings = (f"seeds {', '.join(map(str, seeds))} per prompt; first frames from {args.t2i or 'the base model'}; "
                + (", ".join(f"{name} {value}" for name, value in options.items() if name != "t2i") or "`lamp generate` defaults"))
    markdown = report_markdown(report, per_motion=scorer is None)
    if scorer is not None:  # the suite's table replaces the per-motion one
        markdown = suite_to_markdown(report, motions, settings) + "\n" + markdown
    _write(args.out, report, markdown)
    return 0


def evaluate_entries(entries: Sequence[VideoEntry], scorer: ClipScorer | None = None,
                     training_set: Path | None = None) -> dict:
    """CLIP scores (when given a ``scorer``) and toy metrics (for toy videos) of ``entries``, as a JSON-ready dict.

    ``training_set``: the training videos' folder for every toy video's leakage
    (default: each one's ``training_data``).
    """
    from ..metrics.toy_eval import frames_from_contact_sheet, palette_from_folder, toy_report

    frames, readable, skipped = [], [], []
    for entry in entries:
        try:
            frames.append(read_video(entry.path)[0])
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
    toy = [i for i, entry in enumerate(entries) if entry.toy_motion]
    if toy:
        folders = [training_set or entries[i].training_data for i in toy]
        palettes = {folder: palette_from_folder(folder) for folder in dict.fromkeys(folders) if folder is not None}
        videos = [(frames_from_contact_sheet(*entries[i].sheet) if entries[i].sheet else frames[i],
                   entries[i].prompt, entries[i].toy_motion) for i in toy]
        report["toy"] = toy_report(videos, [names[i] for i in toy], [palettes.get(folder) for folder in folders])
        report["toy"]["training_sets"] = [None if folder is None else str(folder) for folder in folders]
        unknown = folders.count(None)
        if unknown:
            report["toy"]["notes"] = [f"leakage left out for {unknown} of {len(toy)} toy video(s): their motion file "
                                      f"records no training folder that exists here; give it with --training-set DIR"]
    return report


def report_markdown(report: dict, per_motion: bool = True) -> str:
    """The CLIP tables (when scored; the per-motion one unless not ``per_motion``) and the toy tables (for toy videos)."""
    from ..metrics.clip_metrics import report_to_markdown
    from ..metrics.toy_eval import toy_report_to_markdown

    parts = [report_to_markdown(report, per_motion)] if "clip_model" in report else []
    if "toy" in report:
        parts.append(toy_report_to_markdown(report["toy"]))
    if report.get("skipped"):
        lines = [f"Skipped {len(report['skipped'])} video(s) that could not be read:", ""]
        parts.append("\n".join(lines + [f"- {row['video']}: {row['reason']}" for row in report["skipped"]]) + "\n")
    return "\n".join(parts)


def _scorer(args: argparse.Namespace) -> ClipScorer | None:
    from ..metrics.clip_metrics import DEFAULT_CLIP_MODEL, ClipScorer

    if args.no_clip:
        if args.clip is not None:
            raise EvalInputError("--clip and --no-clip contradict each other; give one")
        return None
    return ClipScorer.from_pretrained(args.clip or DEFAULT_CLIP_MODEL, device=args.device)


def _generate_args(args: argparse.Namespace, motion: Path, out: Path) -> argparse.Namespace:
    """A parsed `lamp generate` command line for ``motion`` with the suite's options (prompts and seeds come per job)."""
    from . import generate

    parser = argparse.ArgumentParser(prog="lamp")
    generate.add_parser(parser.add_subparsers())
    argv = ["generate", "--motion", str(motion), "--prompt", "(per job)", "--out", str(out), "--device", args.device or "auto"]
    for name, option in _GENERATE_OPTIONS.items():
        if getattr(args, name) is not None:
            argv += [option, str(getattr(args, name))]
    return parser.parse_args(argv)


def _write(out: Path, report: dict, markdown: str) -> None:
    write_text_atomic(out / "eval.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out / "eval.md", markdown)
    print(markdown)
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")


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
    from ..metrics.toy_eval import toy_motion_for

    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise EvalInputError(f"{path} has no \"prompt\"; add the prompt the video was generated from "
                             f"(\"prompt\": \"...\") so that its text alignment can be scored")
    motion = data.get("motion")
    label = UNSPECIFIED_MOTION if motion is None else _motion_label(str(motion))
    header = _motion_header(path, data)
    motion_prompt = data.get("motion_prompt")  # the training prompt of the video's motion: the JSON's, else the file's
    if not isinstance(motion_prompt, str):
        motion_prompt = None if header is None else header.prompt
    toy_motion = toy_motion_for(prompt, motion_prompt)
    return prompt, label, toy_motion, _training_data(header) if toy_motion else None


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
    import yaml

    try:
        config = yaml.safe_load(header.metadata.get("config") or "") if header is not None else None
    except yaml.YAMLError:
        return None
    data = config.get("data") if isinstance(config, dict) else None
    return Path(data) if isinstance(data, str) and Path(data).is_dir() else None


def _motion_label(motion: str) -> str:
    """A motion's name: as given, or the file or folder name when the JSON holds a path to it."""
    if "/" in motion or "\\" in motion or motion.endswith(".safetensors"):
        return Path(motion.replace("\\", "/").rstrip("/")).name.removesuffix(".safetensors")
    return motion
