"""The Gradio page: four tabs (Tune, Generate, Edit, Evaluate) on :class:`.handlers.Handlers`.

Every job runs in one queue per device (``concurrency_id="device"``, one at a time), so
a second request waits and the page shows its position. Tune and Generate have a Cancel
button: it only signals the job (a tuning stops with a checkpoint, a generation at its next
denoising step) and returns, as does a page that goes away. Files the page may serve are
limited to the motion library and the work folder.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import socket
import sys
from collections.abc import Callable

import gradio as gr

from ..errors import JobStopped, SettingError, TrainingError
from ..files import OutputWriteError
from ..settings import LABELS as SAMPLING_LABELS
from ..settings import MAX_MOTION_SCALE, SamplingSettings
from ..video_io import VIDEO_SUFFIXES
from .handlers import Handlers, UISettings, VideoOutput
from .public import LOG, PublicPaths

# Reports and logs wrap instead of scrolling sideways.
CSS = " ".join(f"#{box} pre, #{box} code {{ white-space: pre-wrap !important; }}" for box in ("tune-report", "gen-log", "edit-log"))
USER_ERRORS = (ValueError, FileNotFoundError, TrainingError, OutputWriteError, JobStopped)
JOB = dict(concurrency_id="device", concurrency_limit=1)  # one job at a time on the device
# How the page names the jobs' settings in messages (lamp_motion.errors.SettingError); the sampling settings'
# labels are their fields'.
LABELS = {**SAMPLING_LABELS, "prompt": "Prompt", "seed": "Seed", "image": "First frame",
          "image_prompt": "First-frame prompt", "t2i": "First-frame model", "video": "Source video", "clip": "CLIP model",
          "inputs": "Batch", "motion": "Motion"}
SAMPLING_DEFAULTS = SamplingSettings()


def _page_errors(fn: Callable, public: PublicPaths) -> Callable:
    """Show a user error (bad field, refused file) on the page instead of a generic 'Error', its paths relative."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            message = error.render(LABELS) if isinstance(error, SettingError) else str(error)
            raise gr.Error(public.shown(message, logging.WARNING), duration=None) from error

    return wrapper


def _video_outputs(out: VideoOutput) -> tuple:
    return out.mp4, out.sheet, out.files, out.settings, f"```\n{out.log}\n```" if out.log else ""


def build_app(settings: UISettings) -> gr.Blocks:
    h = Handlers(settings)
    start = h.tune_defaults()
    limits = settings.limits
    root = "a folder under the server's data root" if settings.data_root else "off; start with --data-root DIR"
    page_errors = functools.partial(_page_errors, public=h.public)

    with gr.Blocks(title="LAMP", analytics_enabled=False) as app:
        gr.Markdown(f"# LAMP: learn a motion from a few videos\nBase for new motions: "
                    f"`{h.public.text(settings.base or 'built-in toy base')}`; motion library: "
                    f"`{settings.motions.name}`")
        with gr.Tabs():
            with gr.Tab("Tune", id="tune", elem_id="tab-tune"):
                with gr.Row():
                    with gr.Column():
                        files = gr.File(label=f"Videos of one motion, or a zip ({limits.describe()})",
                                        file_count="multiple", file_types=[*VIDEO_SUFFIXES, ".zip", ".txt"],
                                        elem_id="tune-files")
                        folder = gr.Textbox(label=f"... or a server folder (server folders: {root})",
                                            placeholder="e.g. horse_run", elem_id="tune-folder")
                        name = gr.Textbox(label="Motion name (its folder in the library)", elem_id="tune-name")
                        prompt = gr.Textbox(label="Motion prompt (empty: prompt.txt or the name)", elem_id="tune-prompt")
                        with gr.Row():
                            steps = gr.Number(start["steps"], label="Steps", precision=0, elem_id="tune-steps")
                            frames = gr.Number(start["frames"], label="Frames", precision=0, elem_id="tune-frames")
                            height = gr.Number(start["height"], label="Height", precision=0, elem_id="tune-height")
                            width = gr.Number(start["width"], label="Width", precision=0, elem_id="tune-width")
                        with gr.Row():
                            every = gr.Number(start["validate_every"], label="Validation video every (steps, 0 = never)",
                                              precision=0, elem_id="tune-every")
                            resume = gr.Checkbox(False, label="Continue from the last checkpoint", elem_id="tune-resume")
                        with gr.Row():
                            tune_button = gr.Button("Start tuning", variant="primary", elem_id="tune-start")
                            cancel = gr.Button("Cancel (keeps a checkpoint)", variant="stop", elem_id="tune-cancel")
                    with gr.Column():
                        status = gr.Markdown("", elem_id="tune-status")
                        validation = gr.Video(label="Latest validation video", interactive=False, height=260,
                                              elem_id="tune-validation")
                        report = gr.Markdown("", elem_id="tune-report")

            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                with gr.Row():
                    with gr.Column():
                        gen_motion = gr.Dropdown(h.motion_names(), label="Motion", elem_id="gen-motion")
                        gen_info = gr.Markdown(elem_id="gen-info")
                        gen_image = gr.Image(type="filepath", label="First frame (optional: else made from a prompt)",
                                             elem_id="gen-image")
                        gen_image_prompt = gr.Textbox(label="First-frame prompt (empty: the video prompt)")
                        gen_t2i = gr.Textbox(label="First-frame model: a diffusers T2I hub id or folder (empty: the base)")
                        gen_prompt = gr.Textbox(label="Prompt", elem_id="gen-prompt")
                        with gr.Row():
                            gen_frames = gr.Number(0, label=f"{LABELS['frames']} (0: the window; more chains windows)",
                                                   precision=0, elem_id="gen-frames")
                            gen_seed = gr.Number(0, label="Seed", precision=0)
                            gen_steps = gr.Number(0, label=f"{LABELS['sampling_steps']} (0: the motion's)", precision=0,
                                                  elem_id="gen-steps")
                            gen_guidance = gr.Number(0, label=f"{LABELS['guidance']} (0: the motion's; 1: off)")
                        gen_noise = gr.Slider(0, 1, SAMPLING_DEFAULTS.shared_noise, step=0.05,
                                              label=LABELS["shared_noise"])
                        gen_scale = gr.Slider(0, MAX_MOTION_SCALE, SAMPLING_DEFAULTS.motion_scale, step=0.05,
                                              label=f"{LABELS['motion_scale']} (0: still, 1: as learnt)",
                                              elem_id="gen-motion-scale")
                        with gr.Row():
                            gen_motion2 = gr.Dropdown(["", *h.motion_names()], value="",
                                                      label="Second motion, mixed in (optional)", elem_id="gen-motion2")
                            gen_weight2 = gr.Slider(0, MAX_MOTION_SCALE, 1.0, step=0.05,
                                                    label="Weight of the second motion (the first's: 1)",
                                                    elem_id="gen-weight2")
                        with gr.Row():
                            gen_button = gr.Button("Generate", variant="primary", elem_id="gen-run")
                            gen_cancel = gr.Button("Cancel", variant="stop", elem_id="gen-cancel")
                    with gr.Column():
                        gen_outputs = _result_column("gen")

            with gr.Tab("Edit", id="edit", elem_id="tab-edit"):
                with gr.Row():
                    with gr.Column():
                        edit_motion = gr.Dropdown(h.motion_names(), label="Motion tuned on the source video",
                                                  elem_id="edit-motion")
                        edit_video = gr.File(label="Source video", file_types=list(VIDEO_SUFFIXES), elem_id="edit-source")
                        edit_image = gr.Image(type="filepath", label="Edited first frame", elem_id="edit-image")
                        edit_prompt = gr.Textbox(label="Prompt of the edit", elem_id="edit-prompt")
                        with gr.Row():
                            edit_steps = gr.Number(0, label="Inversion and sampling steps (0: the motion's)", elem_id="edit-steps",
                                                   precision=0)
                            edit_seed = gr.Number(0, label="Seed", precision=0)
                        with gr.Row():
                            edit_button = gr.Button("Edit", variant="primary", elem_id="edit-run")
                            edit_cancel = gr.Button("Cancel", variant="stop", elem_id="edit-cancel")
                    with gr.Column():
                        edit_outputs = _result_column("edit")

            with gr.Tab("Evaluate", id="evaluate", elem_id="tab-evaluate"):
                with gr.Row():
                    batch = gr.Dropdown(h.batches(), label="Batch (a Generate or Edit run)", elem_id="eval-batch")
                    clip = gr.Textbox(label="CLIP model (empty: toy metrics only)", elem_id="eval-clip")
                eval_button = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
                eval_table = gr.Markdown(elem_id="eval-table")
                eval_files = gr.File(label="eval.json, eval.md", file_count="multiple", interactive=False)

        motion_lists = [gen_motion, edit_motion, gen_motion2]

        def tune(files, folder, name, prompt, steps, frames, height, width, every, resume, request: gr.Request,
                 progress=gr.Progress()):
            session = _session(request)
            with contextlib.closing(h.tune(files, folder, name, prompt, steps, frames, height, width, every, resume,
                                           session)) as updates:
                for update in updates:
                    if update.progress and not update.finished:
                        progress(update.progress, desc="training", unit="steps")
                    names = h.motion_names() if update.finished else None
                    lists = [gr.update()] * 3 if names is None else \
                        [gr.update(choices=names), gr.update(choices=names), gr.update(choices=["", *names])]
                    yield f"```\n{update.report}\n```", update.status, update.validation, *lists

        def cancel_tuning(request: gr.Request):
            gr.Info(h.cancel(_session(request)))

        tune_button.click(tune, [files, folder, name, prompt, steps, frames, height, width, every, resume],
                          [report, status, validation, *motion_lists], **JOB)
        cancel.click(cancel_tuning, None, None, queue=False)

        def refresh():
            names = h.motion_names()
            return gr.update(choices=names), gr.update(choices=names), gr.update(choices=["", *names]), \
                gr.update(choices=h.batches())

        describe = page_errors(h.describe_motion)
        app.load(refresh, None, [*motion_lists, batch], queue=False).then(describe, gen_motion, gen_info, queue=False)
        gen_motion.change(describe, gen_motion, gen_info, queue=False)

        @page_errors
        def generate(motion, image, image_prompt, t2i, prompt, frames, seed, steps, guidance, noise, motion_scale,
                     motion2, weight2, request: gr.Request):
            return _video_outputs(h.generate(motion, image, image_prompt, t2i, prompt, frames, seed, steps, guidance,
                                             noise, motion_scale, motion2, weight2, _session(request)))

        def cancel_generation(request: gr.Request):
            gr.Info(h.cancel_generation(_session(request)))

        generation = gen_button.click(generate, [gen_motion, gen_image, gen_image_prompt, gen_t2i, gen_prompt,
                                                 gen_frames, gen_seed, gen_steps, gen_guidance, gen_noise, gen_scale,
                                                 gen_motion2, gen_weight2],
                                      gen_outputs, **JOB)
        generation.then(refresh, None, [*motion_lists, batch])
        # A queued generation is dropped; a running one stops at its next denoising step.
        gen_cancel.click(cancel_generation, None, None, queue=False, cancels=[generation])

        @page_errors
        def edit(motion, video, image, prompt, steps, seed, request: gr.Request):
            return _video_outputs(h.edit(motion, video, image, prompt, steps, seed, _session(request)))

        def cancel_edit(request: gr.Request):
            gr.Info(h.cancel_edit(_session(request)))

        editing = edit_button.click(edit, [edit_motion, edit_video, edit_image, edit_prompt, edit_steps, edit_seed],
                                    edit_outputs, **JOB)
        editing.then(refresh, None, [*motion_lists, batch])
        # As for generation: a queued edit is dropped, a running one stops at its next inversion or denoising step.
        edit_cancel.click(cancel_edit, None, None, queue=False, cancels=[editing])
        eval_button.click(page_errors(h.evaluate), [batch, clip], [eval_table, eval_files], **JOB)
    return app


def _session(request: gr.Request | None) -> str:
    """The browser session of a request (tests call the functions without one)."""
    return request.session_hash if request is not None else ""


def _result_column(prefix: str) -> list:
    """The video, its contact sheet, the downloads, the settings and the log."""
    return [gr.Video(label="Video (mp4)", interactive=False, height=260, elem_id=f"{prefix}-video"),
            gr.Image(label="Contact sheet", type="filepath", interactive=False, height=160, elem_id=f"{prefix}-sheet"),
            gr.File(label="Downloads: mp4, gif, contact sheet, settings JSON", file_count="multiple",
                    interactive=False, elem_id=f"{prefix}-files"),
            gr.JSON(label="Settings", elem_id=f"{prefix}-settings"),
            gr.Markdown(elem_id=f"{prefix}-log")]


def listen_address(host: str) -> tuple[str, bool]:
    """``host`` as the server takes it (an IPv6 address in brackets, ``[::1]``), and whether it listens on every
    network interface (``0.0.0.0``, ``0``, ``::``, or a name that resolves to one of them).

    Raises ValueError when ``host`` is neither an address nor a name this machine can resolve."""
    bare = host.strip().removeprefix("[").removesuffix("]")
    try:
        found = {info[4][0] for info in socket.getaddrinfo(bare, None, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError) as error:
        raise ValueError(f"--host {host!r} is not an address or a name this machine can resolve ({error}); "
                         f"use 127.0.0.1 (this machine only) or 0.0.0.0 (every network interface)") from None
    everywhere = any(ipaddress.ip_address(address.split("%")[0]).is_unspecified for address in found)
    try:
        served = f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        served = bare  # a name
    return served, everywhere


def launch(settings: UISettings, host: str = "127.0.0.1", port: int = 7860, share: bool = False) -> None:
    """Serve the page until interrupted; files are served only from the library and the work folder."""
    settings.motions.mkdir(parents=True, exist_ok=True)
    settings.work.mkdir(parents=True, exist_ok=True)
    if not LOG.handlers:  # the server log: what the page showed, with whole paths
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("lamp ui: %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.INFO)
        LOG.propagate = False
    app = build_app(settings)
    app.queue(default_concurrency_limit=1)
    _, local_url, share_url = app.launch(
        server_name=host, server_port=port, share=share, max_file_size=settings.limits.max_file_bytes,
        allowed_paths=[str(settings.motions.resolve()), str(settings.work.resolve())], show_error=True,
        footer_links=[], css=CSS, quiet=True, prevent_thread_lock=True)
    print(f"lamp ui: open {local_url}" + (f" (public link: {share_url})" if share_url else " (no public link; --share makes one)"),
          flush=True)
    app.block_thread()
