"""``lamp eval INPUT... [--clip MODEL] [--out DIR]``: CLIP scores of generated videos.

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

Writes ``eval.json`` and ``eval.md`` into ``--out`` and prints the markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..video_io import VIDEO_SUFFIXES, read_video

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


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="CLIP alignment, consistency and diversity of generated videos",
        description="Score videos with CLIP as in the LAMP paper (Table 1): text alignment and frame consistency "
                    "(higher is better), diversity across videos (lower is more diverse); per video, per motion "
                    "and overall.")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="a JSON file written by `lamp generate`, a video file (.mp4, .gif) with such a JSON "
                             "beside it, or a folder of them")
    parser.add_argument("--clip", default=None, metavar="MODEL",
                        help="CLIP model: a hub id or a local folder (default: openai/clip-vit-large-patch14)")
    parser.add_argument("--out", type=Path, default=Path("eval"), metavar="DIR",
                        help="folder for eval.json and eval.md (default: %(default)s)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..metrics.clip_metrics import DEFAULT_CLIP_MODEL, ClipModelError, ClipScorer, report_to_markdown

    try:
        entries = collect_videos(args.inputs)
        scorer = ClipScorer.from_pretrained(args.clip or DEFAULT_CLIP_MODEL, device=args.device)
        videos = [(read_video(entry.path)[0], entry.prompt, entry.motion) for entry in entries]
        report = scorer.evaluate(videos, names=[str(entry.path) for entry in entries])
    except (ClipModelError, ValueError) as error:  # EvalInputError and VideoReadError are ValueErrors
        print(f"error: {error}", file=sys.stderr)
        return 2
    markdown = report_to_markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "eval.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    print(f"wrote {args.out / 'eval.json'} and {args.out / 'eval.md'}")
    return 0


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
            prompt, motion = _prompt_for(video)
            entries[video.resolve()] = VideoEntry(video, prompt, motion)
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
    return {str(kind): path.parent / str(location) for kind, location in videos.items()}


def _entry_from_record(path: Path, data: dict) -> VideoEntry:
    videos = _record_videos(path, data)
    chosen = next((videos[kind] for kind in _PREFERRED_FORMATS if kind in videos), next(iter(videos.values())))
    if not chosen.is_file():
        raise EvalInputError(f"{path} names the video {chosen}, which does not exist")
    prompt, motion = _prompt_and_motion(path, data)
    return VideoEntry(chosen, prompt, motion)


def _prompt_for(video: Path) -> tuple[str, str]:
    """Prompt and motion of a video from its same-name JSON, or from a generate JSON in its folder listing it."""
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


def _prompt_and_motion(path: Path, data: dict) -> tuple[str, str]:
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise EvalInputError(f"{path} has no \"prompt\"; add the prompt the video was generated from "
                             f"(\"prompt\": \"...\") so that its text alignment can be scored")
    motion = data.get("motion")
    if motion is None:
        return prompt, UNSPECIFIED_MOTION
    return prompt, _motion_label(str(motion))


def _motion_label(motion: str) -> str:
    """A motion's name: as given, or the file or folder name when the JSON holds a path to it."""
    if "/" in motion or "\\" in motion or motion.endswith(".safetensors"):
        return Path(motion.replace("\\", "/").rstrip("/")).name.removesuffix(".safetensors")
    return motion
