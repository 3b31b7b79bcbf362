"""A fingerprint of a base UNet, stored in motion files to tell another base (a note, or a refusal) from theirs.

Two parts:
* ``config``: sha256 of the UNet's architecture config (private ``_`` keys dropped);
* ``weights``: a few numbers summarising the pretrained weights — for 16 tensors
  spread over the state dict, the mean absolute value of their first 4096 elements.
  They are compared with a tolerance, so the same base loaded in fp32, fp16 or bf16
  matches, while another base (a different fine-tune) does not.

Cheap at any size (a few thousand elements are read), and ``None`` for weights on the
meta device.
"""

from __future__ import annotations

import hashlib
import json

import torch
from torch import nn

SAMPLED_TENSORS = 16
SAMPLED_ELEMENTS = 4096
WEIGHT_RTOL = 2e-2


def unet_fingerprint(unet: nn.Module) -> dict:
    config = {k: v for k, v in dict(unet.config).items() if not k.startswith("_")}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    params = sorted(unet.named_parameters())
    if not params or params[0][1].is_meta:
        return {"config": config_hash, "weights": None}
    step = max(1, len(params) // SAMPLED_TENSORS)
    weights = []
    for name, param in params[::step][:SAMPLED_TENSORS]:
        sample = param.detach().flatten()[:SAMPLED_ELEMENTS].to(torch.float64)
        weights.append(round(float(sample.abs().mean()), 8))
    return {"config": config_hash, "weights": weights}


def fingerprint_mismatch(expected: dict, found: dict) -> str | None:
    """Why two fingerprints differ, or None when they match."""
    if expected.get("config") != found.get("config"):
        return "the base UNet's architecture config differs"
    a, b = expected.get("weights"), found.get("weights")
    if a is None or b is None:
        return None
    if len(a) != len(b):
        return "the base UNet's weights differ"
    for i, (x, y) in enumerate(zip(a, b)):
        if abs(x - y) > WEIGHT_RTOL * max(abs(x), abs(y), 1e-6):
            return f"the base UNet's weights differ (sampled tensor {i}: {y:.6g} here, {x:.6g} when the motion was trained)"
    return None
