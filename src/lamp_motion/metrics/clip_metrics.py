"""CLIP scores of generated videos, as in the LAMP paper's Table 1.

All scores are ``100 x cosine similarity`` of CLIP embeddings (the paper's scale; the
release multiplies by ``logit_scale.exp()``, which is 100 for the OpenAI CLIP models).
With ``u(x) = x / |x|`` the unit-length embedding of an image or a prompt:

* alignment of a video with its prompt ``p`` (higher is better)::

      100 * mean_i  u(image_i) . u(p)

* consistency of a video (higher is better), over all frame pairs::

      100 * mean_{i<j}  u(image_i) . u(image_j)

* diversity of a set of videos (lower is more diverse), over all video pairs, with the
  video embedding ``v = mean_i u(image_i)`` (frames are normalised *before* averaging so
  that every frame weighs the same whatever the length of its raw embedding)::

      100 * mean_{a<b}  u(v_a) . u(v_b)

  This is the cosine of the two mean embeddings; the release instead takes the dot
  product of the (not re-normalised) means, which is smaller by ``|v_a| |v_b|``.

Frames go through the model's own CLIP image processor (shortest side resized to the
model's input size, centre square cropped), its PIL/numpy backend: torchvision is never
needed.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm
from transformers import CLIPModel, CLIPTokenizer

try:  # transformers >= 5: the PIL/numpy backend has its own name; the plain name wants torchvision
    from transformers import CLIPImageProcessorPil as _ImageProcessor
except ImportError:  # transformers 4.x: CLIPImageProcessor is the PIL/numpy one
    from transformers import CLIPImageProcessor as _ImageProcessor

# The CLIP that SD 1.x's text encoder comes from (ViT-L/14). The paper does not name the
# CLIP behind its scores; this is the natural choice for an SD 1.x method, and the most
# widely used CLIP-score model.
DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
SCALE = 100.0  # scores are SCALE x cosine similarity
HUB_PROBE_TIMEOUT_S = 5.0  # how long to wait for the hub before calling it unreachable
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")

Frames = np.ndarray | Sequence[Image.Image]  # (f, h, w, 3) uint8, or RGB images
EvalVideo = tuple[Frames, str, str]  # (frames, prompt, motion)


class ClipModelError(OSError):
    """A CLIP model that cannot be loaded; the message says what is missing and how to get it."""


def alignment_score(image_embeds: torch.Tensor, text_embed: torch.Tensor) -> float:
    """``100 * mean_i u(image_i) . u(text)`` for unit embeddings ``(f, d)`` and ``(d,)``."""
    return SCALE * (image_embeds @ text_embed).mean().item()


def consistency_score(image_embeds: torch.Tensor) -> float:
    """``100 * mean_{i<j} u(image_i) . u(image_j)`` for unit embeddings ``(f, d)``, ``f >= 2``."""
    if len(image_embeds) < 2:
        raise ValueError(f"consistency needs a video of at least 2 frames, got {len(image_embeds)}")
    pairs = torch.triu_indices(len(image_embeds), len(image_embeds), offset=1)
    return SCALE * (image_embeds @ image_embeds.T)[pairs[0], pairs[1]].mean().item()


def diversity_score(videos_image_embeds: Sequence[torch.Tensor]) -> float:
    """``100 * mean_{a<b} u(v_a) . u(v_b)`` with ``v = mean_i u(image_i)``, for at least 2 videos."""
    if len(videos_image_embeds) < 2:
        raise ValueError(f"diversity needs at least 2 videos, got {len(videos_image_embeds)}")
    means = torch.stack([embeds.mean(dim=0) for embeds in videos_image_embeds])
    return consistency_score(torch.nn.functional.normalize(means, dim=-1))


class ClipScorer:
    """A transformers CLIP model with its tokenizer and image processor, scoring videos."""

    def __init__(self, model: CLIPModel, tokenizer: CLIPTokenizer, image_processor: _ImageProcessor, name: str,
                 device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        self.model = model.to(device).float().eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.name = name
        self.device = torch.device(device)
        self.batch_size = batch_size  # frames per forward pass

    @classmethod
    def from_pretrained(cls, model_id_or_folder: str | os.PathLike[str] = DEFAULT_CLIP_MODEL,
                        device: str | torch.device | None = None) -> ClipScorer:
        """Load any transformers CLIP model (CLIPModel, tokenizer, image processor) from a folder or a hub id.

        The default, ``openai/clip-vit-large-patch14`` (ViT-L/14), is the CLIP whose text
        encoder SD 1.x uses; the paper does not say which CLIP it scored with.

        A folder is read as it is. A hub id is looked up in the local Hugging Face cache
        first; only when it is not there, ``HF_HUB_OFFLINE`` is not set and the hub
        answers within :data:`HUB_PROBE_TIMEOUT_S` is it downloaded. Otherwise a
        :class:`ClipModelError` says at once how to get the model, instead of hanging.
        """
        source = str(model_id_or_folder)
        folder = Path(source).expanduser()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if folder.is_dir():
            return cls(*_load_parts(str(folder), local_files_only=True), name=source, device=device)
        if folder.exists() or not _HUB_ID.fullmatch(source) or source.startswith((".", "~")):
            raise ClipModelError(f"CLIP model folder {source} {'is a file' if folder.exists() else 'does not exist'}; "
                                 f"pass a folder holding a transformers CLIP model (config.json, model.safetensors, "
                                 f"tokenizer and preprocessor files) or a hub id such as {DEFAULT_CLIP_MODEL}")
        try:
            return cls(*_load_parts(source, local_files_only=True), name=source, device=device)
        except (OSError, ValueError) as cached_error:
            unavailable = _why_hub_unavailable()
            if unavailable:
                raise ClipModelError(
                    f"CLIP model {source} is neither a local folder nor in the local Hugging Face cache, and {unavailable}. On a machine with "
                    f"internet run `huggingface-cli download {source}` (or `hf download {source}`) and copy its cache "
                    f"(~/.cache/huggingface/hub) here, or download it with `--local-dir DIR` and pass that folder "
                    f"(lamp eval --clip DIR)") from cached_error
        return cls(*_load_parts(source, local_files_only=False), name=source, device=device)

    @torch.inference_mode()
    def embed_images(self, frames: Frames) -> torch.Tensor:
        """Unit-length CLIP image embeddings ``(f, d)`` (float32, CPU) of ``(f, h, w, 3)`` uint8 frames or RGB images."""
        if len(frames) == 0:
            raise ValueError("embed_images got no frames; pass (f, h, w, 3) uint8 frames with f >= 1")
        if isinstance(frames, np.ndarray):
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
                raise ValueError(f"frames must be a uint8 array (f, h, w, 3), got {frames.dtype} {frames.shape}")
            frames = [Image.fromarray(frame) for frame in frames]
        embeds = []
        for start in range(0, len(frames), self.batch_size):
            batch = [image.convert("RGB") for image in frames[start:start + self.batch_size]]
            pixels = self.image_processor(images=batch, return_tensors="pt").pixel_values.to(self.device)
            pooled = self.model.vision_model(pixel_values=pixels).pooler_output  # (n, vision hidden)
            embeds.append(self.model.visual_projection(pooled))  # (n, d)
        return torch.nn.functional.normalize(torch.cat(embeds).float(), dim=-1).cpu()

    @torch.inference_mode()
    def embed_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """Unit-length CLIP text embeddings ``(n, d)`` (float32, CPU); prompts are cut at the model's length."""
        tokens = self.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt",
                                max_length=self.model.config.text_config.max_position_embeddings).to(self.device)
        pooled = self.model.text_model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).pooler_output
        return torch.nn.functional.normalize(self.model.text_projection(pooled).float(), dim=-1).cpu()

    def alignment(self, video: Frames, prompt: str) -> float:
        """Mean over frames of ``100 x cos(image, prompt)``."""
        return alignment_score(self.embed_images(video), self.embed_text([prompt])[0])

    def consistency(self, video: Frames) -> float:
        """Mean over frame pairs ``i < j`` of ``100 x cos(image_i, image_j)``."""
        return consistency_score(self.embed_images(video))

    def diversity(self, videos: Sequence[Frames]) -> float:
        """Mean over video pairs of ``100 x cos`` of their mean (unit) frame embeddings; lower is more diverse."""
        return diversity_score([self.embed_images(video) for video in videos])

    def evaluate(self, videos: Sequence[EvalVideo], names: Sequence[str] | None = None, progress: bool = True) -> dict:
        """Scores per video, per motion and over all videos, as a JSON-ready dict.

        ``videos`` holds ``(frames, prompt, motion)`` triples; ``names`` label them in
        the report (default ``video 1``, ``video 2``, ...). Alignment and consistency of
        a group are means over its videos; diversity is over the pairs of videos within
        the group (``None`` for a group of one video).
        """
        if not videos:
            raise ValueError("evaluate needs at least one video")
        names = list(names) if names is not None else [f"video {i + 1}" for i in range(len(videos))]
        if len(names) != len(videos):
            raise ValueError(f"got {len(names)} names for {len(videos)} videos")
        text_embeds: dict[str, torch.Tensor] = {}
        rows, image_embeds = [], []
        for (frames, prompt, motion), name in tqdm(list(zip(videos, names)), desc="CLIP scores", unit="video", disable=not progress):
            embeds = self.embed_images(frames)
            if len(embeds) < 2:
                raise ValueError(f"{name} has {len(embeds)} frame; consistency needs videos of at least 2 frames")
            if prompt not in text_embeds:
                text_embeds[prompt] = self.embed_text([prompt])[0]
            rows.append({"name": name, "motion": motion, "prompt": prompt, "frames": len(embeds),
                         "alignment": alignment_score(embeds, text_embeds[prompt]), "consistency": consistency_score(embeds)})
            image_embeds.append(embeds)
        motions = {}
        for motion in dict.fromkeys(row["motion"] for row in rows):
            members = [i for i, row in enumerate(rows) if row["motion"] == motion]
            motions[motion] = _summary([rows[i] for i in members], [image_embeds[i] for i in members])
        return {"clip_model": self.name, "scale": f"{SCALE:g} x cosine similarity",
                "overall": _summary(rows, image_embeds), "motions": motions, "videos": rows}


def report_to_markdown(report: dict, per_motion: bool = True) -> str:
    """The report of :meth:`ClipScorer.evaluate` as markdown tables: per motion (unless not ``per_motion``), per video."""
    lines = [f"CLIP scores ({report['scale']}, model {report['clip_model']}). "
             "Alignment and consistency: higher is better. Diversity: lower is more diverse.", ""]
    if per_motion:
        lines += ["| motion | videos | alignment | consistency | diversity |", "|---|---:|---:|---:|---:|"]
        for motion, summary in [*report["motions"].items(), ("all", report["overall"])]:
            lines.append(f"| {_cell(motion)} | {summary['videos']} | {_number(summary['alignment'])} | "
                         f"{_number(summary['consistency'])} | {_number(summary['diversity'])} |")
        lines.append("")
    lines += ["| video | motion | prompt | frames | alignment | consistency |", "|---|---|---|---:|---:|---:|"]
    for row in report["videos"]:
        lines.append(f"| {_cell(row['name'])} | {_cell(row['motion'])} | {_cell(row['prompt'])} | {row['frames']} | "
                     f"{_number(row['alignment'])} | {_number(row['consistency'])} |")
    return "\n".join(lines) + "\n"


def _summary(rows: list[dict], image_embeds: list[torch.Tensor]) -> dict:
    return {"videos": len(rows),
            "alignment": float(np.mean([row["alignment"] for row in rows])),
            "consistency": float(np.mean([row["consistency"] for row in rows])),
            "diversity": diversity_score(image_embeds) if len(rows) > 1 else None}


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _load_parts(source: str, local_files_only: bool) -> tuple[CLIPModel, CLIPTokenizer, _ImageProcessor]:
    """Model, tokenizer and image processor, each checked; any failure is a :class:`ClipModelError`."""
    try:
        model = CLIPModel.from_pretrained(source, local_files_only=local_files_only)
        tokenizer = CLIPTokenizer.from_pretrained(source, local_files_only=local_files_only)
        image_processor = _ImageProcessor.from_pretrained(source, local_files_only=local_files_only)
    except (OSError, ValueError) as error:
        raise ClipModelError(f"could not load a CLIP model from {source}: {str(error).splitlines()[0]} "
                             f"(a CLIP model needs config.json, weights, tokenizer files and preprocessor_config.json, "
                             f"as CLIPModel.save_pretrained and CLIPProcessor.save_pretrained write them)") from error
    vocab_size = model.config.text_config.vocab_size
    if not min(1000, vocab_size) <= len(tokenizer) <= vocab_size:
        # A tokenizer whose files are missing loads without error as an empty one (a few special tokens).
        raise ClipModelError(f"the tokenizer loaded from {source} has {len(tokenizer)} tokens but the model's text "
                             f"encoder has {vocab_size}: its tokenizer files (tokenizer.json, or vocab.json and "
                             f"merges.txt) are missing or belong to another model")
    return model, tokenizer, image_processor


def _why_hub_unavailable() -> str | None:
    """Why a download cannot work now, or None when the hub is worth trying."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import constants

    endpoint = urlparse(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    if not _reachable(endpoint.hostname or "", port, HUB_PROBE_TIMEOUT_S):
        return f"{endpoint.hostname} cannot be reached"
    return None


def _reachable(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout_s`` (name lookup included)."""
    reached, done = [], threading.Event()

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            reached.append(True)
        except OSError:
            pass
        finally:
            done.set()

    threading.Thread(target=connect, daemon=True).start()  # a hanging name lookup must not block us
    done.wait(timeout_s)
    return bool(reached)
