"""LAMP's video pipeline: a first frame in, the following frames with the learnt motion out.

Frame 1 is the clean, encoded first frame at every denoising step, in both guidance
branches; only frames 2..N are stepped by the scheduler. The initial noise of frames
2..N shares a component (shared-noise sampling), AdaIN keeps the latents' statistics
close to frame 1 in the later steps, and histogram matching does the same in pixels.

``motion_scale`` s sets the strength of the motion: the motion layers' branches are
weighted by s (:meth:`VideoUNet.set_motion_scale`), and below 1 every step also blends
the prediction of frames 2..N with the one that keeps them at frame 1
(:func:`still_prediction`) by ``s ** (1 / steps)``, so that 0 is a still video of frame 1.
Turning the motion layers off alone does not give one: the base then draws each later
frame afresh from its own noise, seeing frame 1 only through first-frame attention.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from PIL import Image
from tqdm.auto import tqdm
from transformers import CLIPTextModel, CLIPTokenizer

from ..builtin import resolve_base
from ..errors import SettingError
from ..models import LampMotionAdapter, MotionOptions, OtherBaseWarning, VideoUNet
from ..models.loading import BaseModel, load_base, load_base_unet, load_recorded_base
from ..models.mixing import mix_motions
from ..settings import ResolvedSampling, SamplingSettings
from .images import fit_image, image_to_tensor
from .noise import shared_noise
from .postprocess import AdaINSchedule, match_histograms

OUTPUT_TYPES = ("np", "pil", "pt", "latent")
# diffusers' callback_on_step_end: (pipe, step index, timestep, {"latents": (b, c, f, h, w)}) -> the tensors to go on with
MotionSource = str | os.PathLike | LampMotionAdapter  # a motion file, a save_pretrained folder, a hub id, an adapter


def _adapters(motion: MotionSource | Sequence[MotionSource]) -> list[LampMotionAdapter]:
    """``motion`` (one, or a list to mix) as adapters, each loaded with ``LampMotionAdapter.from_pretrained``."""
    motions = list(motion) if isinstance(motion, (list, tuple)) else [motion]
    return [m if isinstance(m, LampMotionAdapter) else LampMotionAdapter.from_pretrained(m) for m in motions]
StepCallback = Callable[["LampPipeline", int, torch.Tensor, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def frame_init_latents(scheduler, z1: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Initial latents that carry frame 1's overall colour: its per-channel spatial mean, noised to the first step.

    z1: (b, c, 1, h, w) clean first-frame latents; noise: (b, c, f, h, w) initial noise. At the
    first sampling step a noisy training latent still holds a trace of its own frame
    (``sqrt(alpha_bar_t) x0``, 0.06 at the toy base's first of 25 DDIM steps, 0.07 at SD 1.x's
    last timestep), and the video model learns to read a frame's overall colour from it; pure
    noise holds none, so later frames take the base's colours. This gives every frame the trace
    of frame 1's mean (the lowest frequency of ConsistI2V's FrameInit, Ren et al. 2024) through
    the scheduler's own ``add_noise``. The set timesteps' first one is used.
    """
    mean = z1.mean(dim=(-2, -1), keepdim=True).expand_as(noise).contiguous()  # (b, c, f, h, w)
    first = scheduler.timesteps[:1].to(noise.device)
    return scheduler.add_noise(mean, noise, first)


def still_prediction(scheduler, latents: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The model output that predicts the clean latent ``z1`` for every frame of ``latents`` at timestep ``t``.

    latents: (b, c, f, h, w) noisy latents; z1: (b, c, 1, h, w). For an epsilon model it is the noise that
    ``latents`` hold beside ``sqrt(alpha_bar_t) z1``; for a v model, ``sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) z1``.
    DDIM's predicted clean latent is linear in the model output, so blending an output with this one by
    ``w`` blends the predicted clean latent ``x0`` with ``z1`` by ``w``: ``z1 + w (x0 - z1)``.
    """
    alpha = scheduler.alphas_cumprod.to(latents.device)[t].float()
    eps = (latents - alpha.sqrt() * z1) / (1 - alpha).sqrt()  # (b, c, f, h, w)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return eps
    if kind == "v_prediction":
        return alpha.sqrt() * eps - (1 - alpha).sqrt() * z1
    raise ValueError(f"prediction_type={kind!r} is not supported by motion_scale below 1 (epsilon or v_prediction)")


@dataclass
class LampOutput:
    """``frames``: (b, f, h, w, 3) uint8 for "np"; b lists of f PIL images for "pil"; (b, 3, f, h, w) in [0, 1] for "pt".
    ``latents``: the final (b, c, f, h/8, w/8) latents that were decoded. ``notes``: input adjustments made."""

    frames: object
    latents: torch.Tensor
    notes: list[str]


def recorded_base_unet(recorded: str | None, base_weights: str, given: str | os.PathLike | None, dtype: torch.dtype,
                       where: object) -> tuple[UNet2DConditionModel | None, str | None]:
    """The UNet of the base a motion holding ``to_q`` in full records, to turn it into a difference; and a note.

    Only for ``base_weights == "full"`` with a ``given`` base other than the ``recorded`` one
    ("" names the built-in base; None: not recorded); (None, None) otherwise. A recorded base
    that does not load gives (None, a note saying so): the motion is then applied as before."""
    if base_weights != "full" or given is None or recorded is None:
        return None, None
    source = str(resolve_base(recorded or None))
    if source == str(resolve_base(given)):
        return None, None
    try:
        return load_base_unet(source, dtype=dtype), None
    except (SettingError, ValueError) as error:
        return None, f"the base {where} was trained on does not load ({error}); it is applied as before"


class LampPipeline(DiffusionPipeline):
    """Text + first frame -> video, with a LAMP video UNet."""

    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(self, vae: AutoencoderKL, text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer, unet: VideoUNet, scheduler):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.trained_size: dict[str, int | None] = {}  # the loaded motion file's, set by from_base
        self.generation: dict[str, int | float] = {}  # the loaded motion file's generation settings, set by from_base

    def resolve(self, settings: SamplingSettings | None = None, given_by: str = "call") -> ResolvedSampling:
        """``settings`` (default: all from the motion) resolved against the loaded motion file, checked once;
        see :meth:`lamp_motion.settings.SamplingSettings.resolve`. Sizes are (frames, height, width) order."""
        return (settings or SamplingSettings()).resolve(self, given_by)

    @classmethod
    def from_base(cls, base: BaseModel, motion: MotionSource | Sequence[MotionSource] | None = None,
                  options: MotionOptions | None = None, allow_other_base: bool = False,
                  trained_base: UNet2DConditionModel | None = None,
                  motion_weights: Sequence[float] | None = None) -> "LampPipeline":
        """Inflate ``base`` (in place) and load a motion onto it; DDIM sampler on the base's schedule.

        ``motion``: a LampMotionAdapter, or what ``LampMotionAdapter.from_pretrained`` takes (a
        motion file, a save_pretrained folder, a hub id); None for no motion (``options`` then
        say which layers to add). ``allow_other_base``, ``trained_base``: as for
        ``LampMotionAdapter.load_into`` (a motion on another base: added as a difference, with
        an OtherBaseWarning). A list of motions mixes them, motion ``i`` weighted by
        ``motion_weights[i]`` (default 1 each; :func:`lamp_motion.models.mixing.mix_motions`); the
        first motion's options, training size and generation settings are the pipeline's."""
        adapters = [] if motion is None else _adapters(motion)
        if motion_weights is not None and not adapters:
            raise ValueError("motion_weights without a motion: give the motions they weight")
        first = adapters[0] if adapters else None
        video = VideoUNet.inflate(base.unet, options or (first.options if first is not None else None))
        if adapters:
            mix_motions(video, adapters, motion_weights, allow_other_base, trained_base)
        pipe = cls(base.vae, base.text_encoder, base.tokenizer, video.eval(), base.ddim_scheduler())
        pipe.trained_size = first.trained_size if first is not None else {}
        pipe.generation = first.generation if first is not None else {}
        return pipe

    @classmethod
    def from_motion(cls, motion: MotionSource | Sequence[MotionSource], base: str | None = None,
                    dtype: torch.dtype = torch.float32, allow_other_base: bool = False,
                    motion_weights: Sequence[float] | None = None) -> "LampPipeline":
        """Load the base a motion was trained on (or ``base``) and the motion onto it.

        ``motion``, ``motion_weights``: as for :meth:`from_base` (with several motions, the first one's base).
        A motion holding ``to_q`` in full (an older file) on another ``base`` is added as a
        difference against the base it records, when that one loads (:func:`recorded_base_unet`)."""
        adapters = _adapters(motion)
        first = adapters[0]
        if base is None and first.config.base:
            loaded = load_recorded_base(first.config.base, first.source, dtype)
        else:
            loaded = load_base(resolve_base(base), dtype=dtype)
        trained_base, note = recorded_base_unet(first.config.base, first.base_weights, base, dtype, first.source)
        if note:
            warnings.warn(note, OtherBaseWarning, stacklevel=2)
        return cls.from_base(loaded, adapters, allow_other_base=allow_other_base, trained_base=trained_base,
                             motion_weights=motion_weights)

    # ---- pieces ----------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.device))[0]

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) pixels in [-1, 1] -> scaled latents (n, c, h/8, w/8), the distribution's mean."""
        latents = self.vae.encode(images.to(self.device, self.vae.dtype)).latent_dist.mean
        return latents * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, chunk: int = 2) -> np.ndarray:
        """(b, c, f, h, w) latents -> (b, f, H, W, 3) uint8 frames, decoding ``chunk`` frames at a time."""
        b, _, f, _, _ = latents.shape
        flat = latents.permute(0, 2, 1, 3, 4).flatten(0, 1) / self.vae.config.scaling_factor  # ((b f), c, h, w)
        pixels = torch.cat([self.vae.decode(part.to(self.vae.dtype)).sample.float() for part in flat.split(chunk)])
        pixels = ((pixels.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # ((b f), 3, H, W)
        return pixels.permute(0, 2, 3, 1).reshape(b, f, *pixels.shape[2:], 3).cpu().numpy()

    def prepare_first_frame(self, first_frame, height: int, width: int, notes: list[str]) -> torch.Tensor:
        """A PIL image (resized/cropped with a note) or latents (1|b, c, h/8, w/8) -> latents (n, c, h/8, w/8)."""
        latent_size = (height // self.vae_scale_factor, width // self.vae_scale_factor)
        if isinstance(first_frame, Image.Image):
            image, note = fit_image(first_frame.convert("RGB"), height, width)
            if note:
                notes.append(f"first frame {note}")
            return self.encode_images(image_to_tensor(image))
        if torch.is_tensor(first_frame):
            latent = first_frame if first_frame.ndim == 4 else first_frame[None]
            channels = self.unet.config.in_channels
            if latent.shape[1] != channels or tuple(latent.shape[2:]) != latent_size:
                raise ValueError(f"first-frame latents have shape {tuple(latent.shape)}; expected (n, {channels}, {latent_size[0]}, {latent_size[1]}) for {height}x{width}")
            return latent.to(self.device, torch.float32)
        raise ValueError(f"first_frame must be a PIL image or a latent tensor, got {type(first_frame).__name__}; load a file with lamp_motion.pipelines.images.load_image")

    def _step_kwargs(self, generator, eta: float) -> dict:
        accepted = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {}
        if "eta" in accepted:
            kwargs["eta"] = eta
        if "generator" in accepted:
            kwargs["generator"] = generator
        return kwargs

    # ---- generation ----------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, prompt: str | list[str], first_frame, num_frames: int | None = None, height: int | None = None,
                 width: int | None = None, num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 negative_prompt: str | list[str] | None = None,
                 generator: torch.Generator | int | None = None, shared_noise_alpha: float = 0.2,
                 adain: AdaINSchedule | bool = True, histogram_matching: bool = True, frame_init: bool | None = None,
                 motion_scale: float = 1.0, sequential_guidance: bool = False, latents: torch.Tensor | None = None,
                 eta: float = 0.0, output_type: str = "np", decode_chunk: int = 2, progress: bool = True,
                 callback_on_step_end: StepCallback | None = None) -> LampOutput:
        """Generate videos: the settings resolved once (:meth:`resolve`), then :meth:`sample`.

        num_frames, height, width: default to the loaded motion file's training size, else
        16 frames of 320x512 (the paper's). num_inference_steps, guidance_scale: default to the
        loaded motion file's generation settings, else the paper's 50 steps and guidance 12.5.
        shared_noise_alpha: weight of the shared noise (0 = independent frames).
        adain: True (default schedule), False, or an AdaINSchedule. frame_init: start frames 2..N
        from frame 1's per-channel mean latent noised to the first step's level instead of from
        pure noise (see :func:`frame_init_latents`); None = the loaded motion file's setting, else
        off. motion_scale: strength of the learnt motion, 0..3 (1: as learnt, bit-identical to the
        unscaled model; 0: a still video of frame 1; see :meth:`sample`). sequential_guidance: guidance's
        two UNet passes one after the other, not as one batch of 2 (the same video up to rounding, less
        memory, slower steps). Other arguments: see :meth:`sample`.
        """
        settings = SamplingSettings(frames=num_frames, height=height, width=width, sampling_steps=num_inference_steps,
                                    guidance=guidance_scale, negative_prompt=negative_prompt,
                                    shared_noise=shared_noise_alpha, adain=adain, histogram_matching=histogram_matching,
                                    frame_init=frame_init, motion_scale=motion_scale,
                                    sequential_guidance=sequential_guidance)
        return self.sample(prompt, first_frame, self.resolve(settings).values, generator=generator, latents=latents, eta=eta,
                           output_type=output_type, decode_chunk=decode_chunk, progress=progress,
                           callback_on_step_end=callback_on_step_end)

    @torch.no_grad()
    def sample(self, prompt: str | list[str], first_frame, settings: SamplingSettings,
               generator: torch.Generator | int | None = None, latents: torch.Tensor | None = None, eta: float = 0.0,
               output_type: str = "np", decode_chunk: int = 2, progress: bool = True,
               callback_on_step_end: StepCallback | None = None) -> LampOutput:
        """Generate videos with resolved ``settings`` (``pipe.resolve(...).values``), which are not checked again.

        prompt: one prompt, or one per video. first_frame: a PIL image, or latents
        (1 or b, c, h/8, w/8). generator: a torch.Generator or an int seed. latents: initial
        latents (b, c, f, h/8, w/8) instead of fresh noise (e.g. from DDIM inversion);
        frame 1 is replaced by the first frame and no shared noise is applied to them.
        callback_on_step_end: called after every denoising step as diffusers' pipelines call it,
        ``callback_on_step_end(pipe, i, t, {"latents": latents})``; the ``latents`` of the dict it
        returns go on (frame 1 is set back to the first frame). An exception raised in it ends the
        call there (a front end's cancel button).
        """
        # 1. Check what only the call can get wrong: resolved settings, the output type, batch sizes.
        if settings.unresolved():
            raise ValueError(f"{', '.join(settings.unresolved())} not resolved; pass pipe.resolve(settings).values")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type={output_type!r}; use one of {OUTPUT_TYPES}")
        num_frames, height, width = settings.frames, settings.height, settings.width
        num_inference_steps, guidance_scale = settings.sampling_steps, settings.guidance
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        batch = len(prompts)
        negative = settings.negative_prompt
        negatives = [negative or ""] * batch if negative is None or isinstance(negative, str) else list(negative)
        if len(negatives) != batch:
            raise ValueError(f"{len(negatives)} negative prompts for {batch} prompts")
        if isinstance(generator, int):
            generator = torch.Generator().manual_seed(generator)
        schedule = AdaINSchedule() if settings.adain is True else (settings.adain or None)
        notes: list[str] = []

        # 2. Text: conditional (and unconditional for guidance) embeddings, one call.
        guided = guidance_scale > 1.0
        text = self.encode_prompt(negatives + prompts if guided else prompts).to(self.unet.dtype)

        # 3. The clean first-frame latent z1, one per video.
        z1 = self.prepare_first_frame(first_frame, height, width, notes)
        if z1.shape[0] not in (1, batch):
            raise ValueError(f"{z1.shape[0]} first frames for {batch} prompts; give one, or one per prompt")
        z1 = z1.expand(batch, -1, -1, -1)[:, :, None]  # (b, c, 1, h, w)

        # 4. Initial latents: (shared) noise for frames 2..N, scaled for the scheduler.
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        shape = (batch, z1.shape[1], num_frames, *z1.shape[3:])
        if latents is None:
            noise = shared_noise(torch.randn(shape, generator=generator, dtype=torch.float32), settings.shared_noise)
            if settings.frame_init:
                latents = frame_init_latents(self.scheduler, z1.float(), noise.to(self.device))
            else:
                latents = noise.to(self.device) * self.scheduler.init_noise_sigma
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents have shape {tuple(latents.shape)}; expected {shape}")
        latents = latents.to(self.device, torch.float32).clone()
        latents[:, :, :1] = z1

        # 5. Denoise frames 2..N; frame 1 stays z1 in both guidance branches; the motion layers at motion_scale.
        step_kwargs = self._step_kwargs(generator, eta)
        timesteps = self.scheduler.timesteps
        # Below scale 1 each step also leans the later frames' prediction towards a still frame 1 (still_prediction),
        # by a weight whose product over the steps is the scale: at 0 the video is still (docs/api.md, Motion scale).
        still_weight = min(1.0, settings.motion_scale) ** (1 / len(timesteps))
        with self.unet.motion_scaled(settings.motion_scale):
            for i, t in enumerate(tqdm(timesteps, desc="denoising", disable=not progress, leave=False)):
                model_in = torch.cat([latents] * 2) if guided else latents
                model_in = self.scheduler.scale_model_input(model_in, t)
                model_in[:, :, :1] = z1.repeat(model_in.shape[0] // batch, 1, 1, 1, 1)
                model_in = model_in.to(self.unet.dtype)
                if guided and settings.sequential_guidance:  # unconditional, then conditional: half the activations
                    prediction = torch.cat([self.unet(part, t, embeds).float()
                                            for part, embeds in zip(model_in.chunk(2), text.chunk(2))])
                else:
                    prediction = self.unet(model_in, t, text).float()
                if guided:
                    uncond, cond = prediction.chunk(2)
                    prediction = uncond + guidance_scale * (cond - uncond)
                if still_weight < 1:  # below 1: the predicted clean later frames lean towards z1
                    still = still_prediction(self.scheduler, latents[:, :, 1:], z1, t)
                    prediction[:, :, 1:] = still + still_weight * (prediction[:, :, 1:] - still)
                stepped = self.scheduler.step(prediction[:, :, 1:], t, latents[:, :, 1:], **step_kwargs).prev_sample
                latents = torch.cat([z1, stepped], dim=2)
                if schedule is not None:
                    latents = schedule.apply_step(latents, i, len(timesteps))
                if callback_on_step_end is not None:
                    latents = callback_on_step_end(self, i, t, {"latents": latents})["latents"]
                    latents[:, :, :1] = z1
        if schedule is not None:
            latents = schedule.apply_final(latents)
        latents[:, :, :1] = z1  # exact, whatever the matching did

        # 6. Decode in chunks, then histogram-match every frame to frame 1.
        if output_type == "latent":
            return LampOutput(frames=latents, latents=latents, notes=notes)
        frames = self.decode_latents(latents, chunk=decode_chunk)  # (b, f, H, W, 3)
        if settings.histogram_matching:
            frames = np.stack([match_histograms(video, video[0]) for video in frames])
        if output_type == "pil":
            out = [[Image.fromarray(frame) for frame in video] for video in frames]
        elif output_type == "pt":
            out = torch.from_numpy(frames).permute(0, 4, 1, 2, 3).float() / 255.0
        else:
            out = frames
        return LampOutput(frames=out, latents=latents, notes=notes)
