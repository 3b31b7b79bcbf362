"""LAMP's video UNet: motion layers, attention processors, inflation, motion adapters and files."""

from .adapter import LampMotionAdapter, OtherBaseWarning, load_motion, save_motion
from .motion_file import MotionFile, MotionFileError, read_motion_header
from .video_unet import MotionOptions, VideoUNet, check_sd1_unet

__all__ = ["LampMotionAdapter", "MotionFile", "MotionFileError", "MotionOptions", "OtherBaseWarning", "VideoUNet",
           "check_sd1_unet", "load_motion", "read_motion_header", "save_motion"]
