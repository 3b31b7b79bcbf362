"""LAMP: learn a motion pattern from a few videos, then generate new videos with it.

Tensor layout at every module boundary of this package: video tensors are
``(b, c, f, h, w)`` (batch, channels, frames, height, width).
"""

__version__ = "0.1.0"
