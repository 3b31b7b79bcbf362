"""Many videos in one load, split across processes, with one manifest; a rerun makes only the missing ones.

:func:`make_videos` is how `lamp generate` (one prompt, or a jobs file) and `lamp eval --suite`
make their videos. Each video is one GenerateSettings (its own prompt, image prompt, seed,
motion, first frame, sampling settings, overlap, fps, first-frame steps and output folder);
the settings that load models (base, t2i, device, dtype, allow_other_base, compile, tf32) are
shared by all of them.

1. Plan: every video is checked and named before any model loads (a SettingError says which
   setting is wrong); a video whose JSON already records the same prompt, seed, motion, first
   frame and sampling settings, with its files there, is complete and is not made again.
2. Make: the remaining videos are split between the processes of an accelerate launch
   (``PartialState.split_between_processes``; one process without one). Each process loads
   the base once per base and each motion file once (the videos run grouped by motion), and
   every video is seeded by its own seed, so it is the same whichever process makes it.
3. Record: each process keeps a part of the manifest (what it made, or the error it stopped
   with); after all have finished, the main process merges the parts into ``manifest.json``
   (written atomically): every video, its settings, which process made it, and what is missing.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from ..errors import JobStopped, SettingError
from ..files import slug, write_text_atomic
from ..models import read_motion_header
from ..models.mixing import check_weights
from ..models.motion_file import MotionFile
from ..models.speed import allow_tf32, compile_video_unet
from ..pipelines.first_frame import first_frames_from_base, first_frames_from_t2i
from ..pipelines.images import load_image
from ..pipelines.lamp_pipeline import LampPipeline
from ..pipelines.long_video import generate_long
from ..settings import ResolvedSampling, check_frame_rate
from ..video_io import frames_from_contact_sheet
from .common import GeneratedVideo, Log, check_out, load_motion_base, resolve_device, video_model, write_outputs

MAX_SEED = 2**63 - 1  # torch generators take 64-bit seeds
MANIFEST = "manifest.json"
# Keys of a video's JSON that a rerun compares with what it would make (the rest depend on the machine or the load).
_COMPARED_EXCEPT = ("base", "device", "dtype", "compile", "setting_sources", "num_frames_written", "videos",
                    "library_version")


@dataclass
class PlannedVideo:
    """One video of a run, checked and named: what it is made from and where it goes."""

    index: int  # its place in the run (and in the manifest)
    settings: object  # its GenerateSettings (num_videos unused)
    header: MotionFile
    resolved: ResolvedSampling
    image: Image.Image | None  # the given first frame, read
    source: str  # the first frame's source as the JSON records it: "image:...", "t2i:...", "base"
    notes: list[str]
    out: Path
    stem: str = ""
    complete: bool = False  # made by an earlier run with the same settings

    @property
    def json(self) -> Path:
        return self.out / f"{self.stem}.json"

    def expected(self) -> dict:
        """The JSON entries this video's own settings decide (compared by a rerun)."""
        s = self.settings
        record = {"prompt": s.prompt, **motion_record(s), "first_frame": self.source, **self.resolved.record(),
                  "overlap": s.overlap, "image_prompt": None if self.image is not None else self.image_prompt,
                  "seed": s.seed, "fps": s.fps}
        return _plain({key: value for key, value in record.items() if key not in _COMPARED_EXCEPT})

    @property
    def image_prompt(self) -> str:
        return self.settings.image_prompt or self.settings.prompt


@dataclass
class VideosMade:
    """What :func:`make_videos` leaves: every complete video in run order, their JSON records, and the manifest."""

    videos: list[GeneratedVideo]
    records: list[dict]
    manifest: Path
    missing: list[dict] = field(default_factory=list)  # the manifest's entries of videos not made


def video_stems(out: Path, jobs: list[tuple[str, str, int]]) -> list[str]:
    """File names (without suffix) of the jobs' videos: ``<prompt slug>-seed<k>``, made unique.

    Two prompts may share a slug ("A cat!" and "a cat"): the later one gets ``-2``, ``-3``,
    ... rather than overwriting; so does a job whose name is taken in ``out`` by a video of
    another prompt. A video of the same prompt and seed is replaced (a rerun)."""
    stems, taken = [], set()
    for prompt, _, seed in jobs:
        first = stem = f"{slug(prompt)}-seed{seed}"
        number = 2
        while stem in taken or _recorded_prompt(out / f"{stem}.json") not in (None, prompt):
            stem, number = f"{first}-{number}", number + 1
        taken.add(stem)
        stems.append(stem)
    return stems


def _recorded_prompt(path: Path) -> str | None:
    """The prompt a video's JSON records (None: no such file); a JSON that cannot be read counts as another's."""
    if not path.is_file():
        return None
    record = _read_json(path) or {}
    return record["prompt"] if isinstance(record.get("prompt"), str) else ""


def motion_paths(settings) -> list[str]:
    """The motion files of ``settings.motion``: one path, or a list of them (a mix)."""
    motion = settings.motion
    return [str(m) for m in motion] if isinstance(motion, (list, tuple)) else [str(motion)]


def motion_record(settings) -> dict:
    """The motion entries of a video's JSON: ``motion`` (a path; a list for a mix) and ``motion_weights``."""
    paths, weights = motion_paths(settings), settings.motion_weights
    return {"motion": paths[0] if len(paths) == 1 and not isinstance(settings.motion, (list, tuple)) else paths,
            "motion_weights": None if weights is None else [float(w) for w in weights]}


def _motion_key(video: PlannedVideo) -> str:
    """Videos of one key use one loaded motion (or mix)."""
    return json.dumps(motion_record(video.settings))


def check_video(settings, given_by: str = "settings", images: dict | None = None) -> PlannedVideo:
    """``settings`` checked without loading a model: a SettingError names the first setting that cannot be used.

    ``images``: first-frame images already read, by path (filled in)."""
    if not isinstance(settings.prompt, str) or not settings.prompt.strip():
        raise SettingError("give the video's {prompt}, e.g. \"a horse runs in the snow\"", "prompt")
    seed = settings.seed
    if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
        raise SettingError(f"{{seed}}={seed} is not a seed; give a whole number from 0 to 2**63 - 1 "
                           f"(each video uses seed, seed + 1, ...)", "seed")
    check_frame_rate(settings.fps)
    if settings.image is not None and settings.t2i is not None:
        raise SettingError("{image} and {t2i} both give the first frame; choose one", "image", "t2i")
    paths = motion_paths(settings)
    if not paths:
        raise SettingError("{motion} is an empty list; give one motion file, or several to mix", "motion")
    header = [read_motion_header(path) for path in paths][0]  # each checked; the first one's settings apply
    if settings.motion_weights is not None:
        try:
            check_weights(settings.motion_weights, len(paths))
        except ValueError as error:
            raise SettingError(f"{{motion_weights}}: {error}", "motion_weights") from error
    resolved = settings.sampling.resolve(header, given_by)
    image, notes, source = settings.image, [], "base" if settings.t2i is None else f"t2i:{settings.t2i}"
    if isinstance(image, Image.Image):
        source = "image:(given)"
    elif image is not None:
        images = {} if images is None else images
        if str(image) not in images:
            images[str(image)] = (load_image(image, notes), notes)
        (image, notes), source = images[str(image)], f"image:{settings.image}"
    return PlannedVideo(-1, settings, header, resolved, image, source, list(notes), Path(settings.out))


def plan_videos(videos: list, given_by: str = "settings") -> list[PlannedVideo]:
    """Every video checked and named (see the module's step 1); nothing is loaded or written."""
    images: dict = {}
    planned = [replace(check_video(settings, given_by, images), index=i) for i, settings in enumerate(videos)]
    for out in dict.fromkeys(p.out for p in planned):
        check_out(out)
        here = [p for p in planned if p.out == out]
        for video, stem in zip(here, video_stems(out, [(p.settings.prompt, p.image_prompt, p.settings.seed)
                                                       for p in here])):
            video.stem = stem
            video.complete = _is_complete(video)
    return planned


def _is_complete(video: PlannedVideo) -> bool:
    """Its JSON records what this run would make, and the files it lists are there."""
    record = _read_json(video.json)
    if record is None or not isinstance(record.get("videos"), dict):
        return False
    files = [video.out / str(name) for name in record["videos"].values()]
    if not all(path.is_file() and path.stat().st_size > 0 for path in files):
        return False
    return all(_plain(record.get(key)) == value for key, value in video.expected().items())


def make_videos(shared, videos: list, log: Log | None = print, given_by: str = "settings",
                manifest_dir: str | os.PathLike[str] | None = None, stop: threading.Event | None = None) -> VideosMade:
    """Make ``videos`` (GenerateSettings, one video each) with the loading settings of ``shared``; see the module.

    ``manifest_dir``: where ``manifest.json`` goes (default ``shared.out``). Every process returns
    every complete video; a process that fails raises its error once the manifest is written.
    ``stop``: once set, :class:`~lamp_motion.errors.JobStopped` at the next denoising step or
    between videos (recorded in the manifest like any failure; the videos written stay)."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    say = log or (lambda _: None)
    planned = plan_videos(videos, given_by)
    manifest = check_out(manifest_dir if manifest_dir is not None else shared.out) / MANIFEST
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))  # as an Accelerator reads it: gloo on CPUs
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched > state.num_processes:
        raise SettingError(f"launched as {launched} processes, but accelerate runs each one alone: they would make "
                           f"the same videos. Without CUDA GPUs, launch with ACCELERATE_USE_CPU=1 accelerate launch "
                           f"--multi_gpu --num_processes {launched} ...")
    rank, processes = state.process_index, state.num_processes
    if processes > 1:
        say = _prefixed(say, f"[process {rank}/{processes}] ")
    state.wait_for_everyone()  # every process has named the videos before any is written
    if state.is_main_process:
        _write_manifest(manifest, planned, {}, processes)
    done = [p for p in planned if p.complete]
    if done:
        say(f"{len(done)} of {len(planned)} videos are complete already; making the other {len(planned) - len(done)}")
    remaining = _grouped([p for p in planned if not p.complete])
    part = manifest.with_name(f"{MANIFEST}.part{rank}")
    status: dict[int, dict] = {}
    failure = None
    with state.split_between_processes(remaining) as mine:
        try:
            _make(shared, mine, len(planned), status, lambda: _write_part(part, status), say, rank, processes,
                  _device(shared.device, state.device, processes), _stopper(stop, status, len(mine), shared.out))
        except Exception as error:  # kept for the manifest; raised again once it is written
            failure = error
            for video in mine:
                status.setdefault(video.index, {"error": f"{type(error).__name__}: {error}"})
            _write_part(part, status)
    state.wait_for_everyone()
    if state.is_main_process:
        parts = [manifest.with_name(f"{MANIFEST}.part{r}") for r in range(processes)]
        merged = {int(k): v for path in parts for k, v in (_read_json(path) or {}).items()}
        _write_manifest(manifest, planned, merged, processes)
        for path in parts:
            path.unlink(missing_ok=True)
    state.wait_for_everyone()
    if failure is not None:
        raise failure
    return _collect(planned, manifest, say)


def _stopper(stop: threading.Event | None, status: dict, count: int, out) -> Callable[[], None]:
    """A function that raises JobStopped once ``stop`` is set, saying how many of this process's videos were made."""
    def check() -> None:
        if stop is not None and stop.is_set():
            made = sum("process" in entry for entry in status.values())
            raise JobStopped(f"generation stopped on request after {made} of {count} videos"
                             + (f"; those written are in {out}" if made else "; nothing written"))
    return check


def _make(shared, mine: list[PlannedVideo], total: int, status: dict, save_status, say: Log, rank: int,
          processes: int, device_name, check_stop=lambda: None) -> None:
    """This process's videos: first frames, then each base once and each motion once, one video at a time."""
    if not mine:
        return
    device, dtype = resolve_device(str(device_name), shared.dtype)
    allow_tf32(shared.tf32)
    frames: dict[int, Image.Image] = {p.index: p.image for p in mine if p.image is not None}

    # 1. First frames from a T2I model (released before the video stage), one load per size and step count.
    from_t2i = [p for p in mine if p.image is None and shared.t2i]
    for key, group in _groups(from_t2i, _first_frame_key).items():
        images = first_frames_from_t2i(shared.t2i, [p.image_prompt for p in group], [p.settings.seed for p in group],
                                       *key, device, dtype)
        frames.update({p.index: image for p, image in zip(group, images)})

    # 2. Each base once: its own first frames, then inflated with each motion in turn.
    for base_group in _groups(mine, lambda p: shared.base or p.header.base).values():
        base = load_motion_base(base_group[0].header, shared.base, dtype)
        from_base = [p for p in base_group if p.index not in frames]
        if from_base:
            for part in (base.unet, base.vae, base.text_encoder):
                part.to(device)
        for key, group in _groups(from_base, _first_frame_key).items():
            images = first_frames_from_base(base, [p.image_prompt for p in group], [p.settings.seed for p in group],
                                            key[0], key[1], device, key[2], key[3])
            frames.update({p.index: image for p, image in zip(group, images)})
        motions = _groups(base_group, _motion_key)
        for number, group in enumerate(motions.values()):
            # The last motion inflates the base's own UNet; the others a copy, so the base stays 2D for the next.
            unet = base.unet if number == len(motions) - 1 else copy.deepcopy(base.unet)
            mix = group[0].settings
            pipe = video_model(replace(base, unet=unet), motion_record(mix)["motion"], group[0].header, shared.base,
                               shared.allow_other_base, say, motion_weights=mix.motion_weights).to(device)
            if shared.compile:
                compile_video_unet(pipe.unet)
            for video in group:
                check_stop()
                record, notes = _make_one(pipe, video, frames[video.index], base.source, device, dtype,
                                          shared.compile, say, check_stop)
                status[video.index] = {"process": rank, "notes": notes}
                save_status()
                say(f"video {video.index + 1}/{total}: {record.with_suffix('.mp4')}")
            del pipe


def _make_one(pipe: LampPipeline, video: PlannedVideo, first: Image.Image, base_source: str, device, dtype,
              compiled: bool, say: Log, check_stop=lambda: None) -> tuple[Path, list[str]]:
    """Sample one video (chained windows when longer than the motion's window), write its files; the JSON and notes."""
    s, sampling = video.settings, video.resolved.values

    def on_step(pipe, index, timestep, tensors: dict) -> dict:  # the pipeline's callback_on_step_end
        check_stop()
        return tensors

    if sampling.frames > video.resolved.window:
        out = generate_long(pipe, s.prompt, first, sampling, video.resolved.window, overlap=s.overlap, generator=s.seed,
                            callback_on_step_end=on_step)
    else:
        out = pipe.sample(s.prompt, first, sampling, generator=s.seed, callback_on_step_end=on_step)
    notes = video.notes + out.notes
    limit = pipe.tokenizer.model_max_length
    tokens = len(pipe.tokenizer(s.prompt, verbose=False).input_ids)
    if tokens > limit:
        notes = notes + [f"the prompt is {tokens} tokens long; the text encoder reads the first {limit} "
                         f"(with its start and end tokens), the rest is ignored"]
    for note in notes:
        say(f"note: {note}")
    shared = dict(**motion_record(s), motion_prompt=video.header.prompt, base=base_source, first_frame=video.source,
                  **video.resolved.record(), overlap=s.overlap, device=str(device), dtype=str(dtype), compile=compiled)
    record = {"prompt": s.prompt, **shared, "image_prompt": None if video.image is not None else video.image_prompt,
              "seed": s.seed}
    return write_outputs(video.out, video.stem, out.frames[0], s.fps, record), notes


def _first_frame_key(video: PlannedVideo) -> tuple:
    sampling = video.resolved.values
    return sampling.height, sampling.width, video.settings.t2i_steps, video.settings.t2i_guidance


def _groups(videos: list[PlannedVideo], key) -> dict:
    """``videos`` by ``key``, in the order each key first appears."""
    groups: dict = {}
    for video in videos:
        groups.setdefault(key(video), []).append(video)
    return groups


def _grouped(videos: list[PlannedVideo]) -> list[PlannedVideo]:
    """``videos`` ordered by motion (first appearance), so that a contiguous share loads few motions."""
    return [video for group in _groups(videos, _motion_key).values() for video in group]


def _write_part(path: Path, status: dict) -> None:
    write_text_atomic(path, json.dumps({str(k): v for k, v in status.items()}))


def _write_manifest(path: Path, planned: list[PlannedVideo], status: dict[int, dict], processes: int) -> None:
    """``manifest.json``: every video, its settings, which process made it; what is missing and why."""
    earlier = {entry.get("json"): entry for entry in (_read_json(path) or {}).get("videos", [])
               if isinstance(entry, dict)}
    entries = []
    for video in planned:
        name = os.path.relpath(video.json, path.parent)
        entry = {"index": video.index, "json": name, "prompt": video.settings.prompt, "seed": video.settings.seed,
                 "motion": motion_record(video.settings)["motion"]}
        made = status.get(video.index, {})
        if "process" in made:
            entry.update(status="made", process=made["process"], notes=made["notes"], settings=_read_json(video.json))
        elif video.complete:
            before = earlier.get(name, {})
            entry.update(status="complete before", process=before.get("process"), settings=_read_json(video.json))
        else:
            entry.update(status="missing", error=made.get("error", "not made yet"), settings=video.expected())
        entries.append(entry)
    missing = [entry["json"] for entry in entries if entry["status"] == "missing"]
    write_text_atomic(path, json.dumps({"processes": processes, "videos": entries, "missing": missing}, indent=2,
                                       default=str))


def _collect(planned: list[PlannedVideo], manifest: Path, say: Log) -> VideosMade:
    """Every complete video of the run (frames from its contact sheet, which holds them exactly) and what is missing."""
    entries = (_read_json(manifest) or {}).get("videos", [])
    missing = [entry for entry in entries if entry.get("status") == "missing"]
    if missing:
        say(f"{len(missing)} of {len(planned)} videos are missing ({missing[0]['json']}: {missing[0]['error']}); "
            f"{manifest} lists them, and a rerun with the same output folder makes only those")
    videos, records = [], []
    gone = {entry["index"] for entry in missing}
    notes = {entry["index"]: entry["notes"] for entry in entries if "notes" in entry}
    for video in planned:
        record = _read_json(video.json)
        if video.index in gone or record is None:
            continue
        frames = frames_from_contact_sheet(video.out / record["videos"]["sheet"], record["num_frames_written"],
                                           record["height"], record["width"])
        videos.append(GeneratedVideo(json=video.json, prompt=video.settings.prompt, seed=video.settings.seed,
                                     frames=frames, notes=notes.get(video.index, video.notes)))
        records.append(record)
    return VideosMade(videos, records, manifest, missing)


def _device(given: str, process_device, processes: int) -> str:
    """The device of this process: each its own GPU under a launch of several ("auto"), else as given."""
    if given == "auto" and processes > 1 and process_device.type != "cpu":
        return str(process_device)
    return given


def _prefixed(log: Log, prefix: str) -> Log:
    return lambda line: log(prefix + line)


def _read_json(path: Path) -> dict | None:
    """A JSON object from ``path``; None when there is none or it cannot be read as one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _plain(value):
    """``value`` as JSON would give it back (tuples as lists, paths as strings)."""
    return json.loads(json.dumps(value, default=str))
