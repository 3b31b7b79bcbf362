"""LAMP's attention changes, through diffusers' own extension points.

* :class:`FirstFrameAttnProcessor` — an attention processor for the spatial
  self-attention (``attn1``) of every transformer block: queries from every frame,
  keys and values from frame 1 only (paper Eq. 5).
* :class:`TemporalAttention` — self-attention over the frame axis for each spatial
  token, added after the feed-forward of every transformer block through a forward
  hook on the block (the block's own code is untouched). Its output projection starts
  at zero, so a fresh block is the identity; its ``motion_scale`` weights the residual
  branch at run time (``h + s * attn_temp(norm_temp(h))``); with other motions mixed in
  (:mod:`lamp_motion.models.mixing`) the branch is the weighted sum of every motion's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from einops import rearrange
from torch import nn

from .layout import FrameContext


class FirstFrameAttnProcessor:
    """Self-attention whose keys and values come from frame 1 of each video.

    Every frame's queries attend over frame 1's tokens, so the attention is computed
    per video as ``(f n)`` queries against ``n`` keys (no copies of frame 1's keys).
    With one frame it is plain self-attention.
    """

    def __init__(self, context: FrameContext):
        self.context = context

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("first-frame attention replaces self-attention only (no encoder states, no mask)")
        if attn.spatial_norm is not None or attn.group_norm is not None or hidden_states.ndim != 3:
            raise ValueError("first-frame attention supports the SD 1.x transformer self-attention layout only")
        residual = hidden_states  # ((b f), n, c)
        f = self.context.num_frames
        b = self.context.split(hidden_states.shape[0])
        heads = attn.heads

        query = attn.to_q(hidden_states)  # ((b f), n, d)
        first = rearrange(hidden_states, "(b f) n c -> b f n c", f=f)[:, 0]  # (b, n, c)
        key = attn.to_k(first)  # (b, n, d)
        value = attn.to_v(first)  # (b, n, d)

        query = rearrange(query, "(b f) n (h d) -> b h (f n) d", b=b, h=heads)
        key = rearrange(key, "b n (h d) -> b h n d", h=heads)
        value = rearrange(value, "b n (h d) -> b h n d", h=heads)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        out = F.scaled_dot_product_attention(query, key, value, scale=attn.scale)  # (b, h, (f n), d)
        out = rearrange(out, "b h (f n) d -> (b f) n (h d)", f=f).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))  # projection, dropout
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


class TemporalAttention(nn.Module):
    """Pre-norm self-attention over frames for every spatial token, with a residual.

    Input and output are ``((b f), n, c)`` transformer tokens; the frame count comes
    from the shared :class:`FrameContext`. No positional encoding and no causal mask,
    as in the paper's release.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, context: FrameContext):
        super().__init__()
        self.norm_temp = nn.LayerNorm(dim)
        self.attn_temp = Attention(query_dim=dim, heads=heads, dim_head=head_dim, bias=False, out_bias=True)
        self.context = context
        self.motion_scale = 1.0  # runtime weight of the residual branch (VideoUNet.set_motion_scale); not a weight
        # Other motions' branches (each holding norm_temp and attn_temp) and the mix's weights, this layer's own first
        # (lamp_motion.models.mixing); empty, the layer is one motion's.
        self.mixed = nn.ModuleList()
        self.mix_weights: tuple[float, ...] = ()
        self.zero_init()

    @torch.no_grad()
    def zero_init(self) -> None:
        """Zero the output projection (weight and bias): a fresh block is the identity."""
        nn.init.zeros_(self.attn_temp.to_out[0].weight)
        nn.init.zeros_(self.attn_temp.to_out[0].bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        f = self.context.num_frames
        self.context.split(hidden_states.shape[0])  # checks the batch holds whole videos
        if self.motion_scale == 0:
            return hidden_states  # the branch is off: not computed
        n = hidden_states.shape[1]
        tokens = rearrange(hidden_states, "(b f) n c -> (b n) f c", f=f)
        out = self.attn_temp(self.norm_temp(tokens))  # ((b n), f, c)
        if self.mix_weights:
            out = self.mix_weights[0] * out
            for weight, part in zip(self.mix_weights[1:], self.mixed):
                out = out + weight * part.attn_temp(part.norm_temp(tokens))
        branch = rearrange(out, "(b n) f c -> (b f) n c", n=n)  # ((b f), n, c)
        return hidden_states + (branch if self.motion_scale == 1 else self.motion_scale * branch)


def temporal_attention_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook on a ``BasicTransformerBlock``: runs its ``temporal`` child after it."""
    return module.temporal(output)
