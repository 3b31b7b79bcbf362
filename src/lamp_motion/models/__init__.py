"""LAMP's video UNet: motion layers, attention processors, inflation, motion files."""

from .motion_file import MotionFile, MotionFileError, load_motion, read_motion_header, save_motion
from .video_unet import MotionOptions, VideoUNet, check_sd1_unet

__all__ = ["MotionFile", "MotionFileError", "MotionOptions", "VideoUNet", "check_sd1_unet", "load_motion",
           "read_motion_header", "save_motion"]
