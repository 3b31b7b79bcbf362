"""The shipped training configs: they load, say what the paper says, and ship with the package."""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest
import yaml

import lamp_motion
from lamp_motion.config_io import ConfigError, load_config
from lamp_motion.training.config import TrainConfig

PACKAGE = Path(lamp_motion.__file__).resolve().parent
CONFIGS = PACKAGE / "configs"
REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(CONFIGS.rglob("*.yaml"))

# The paper's eight motions: data folder name -> motion prompt (the folder name with _ as spaces).
PAPER_MOTIONS = {
    "helicopter": "helicopter",
    "waterfall": "waterfall",
    "rain": "rain",
    "firework": "firework",
    "horse_run": "horse run",
    "birds_fly": "birds fly",
    "turn_to_smile": "turn to smile",
    "play_the_guitar": "play the guitar",
}
SD14 = "CompVis/stable-diffusion-v1-4"


def test_the_paper_motions_and_toy_configs_are_shipped():
    names = {p.relative_to(CONFIGS).as_posix() for p in SHIPPED}
    assert {f"{motion}.yaml" for motion in PAPER_MOTIONS} | {"edit_single_video.yaml"} <= names
    assert any(name.startswith("toy/") for name in names)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(CONFIGS).as_posix())
def test_every_shipped_config_loads_with_known_keys_only(path):
    keys = set(yaml.safe_load(path.read_text()))
    assert keys <= set(TrainConfig.__dataclass_fields__), keys - set(TrainConfig.__dataclass_fields__)
    load_config(TrainConfig, path)  # raises on unknown keys, wrong types and bad values


@pytest.mark.parametrize("motion", PAPER_MOTIONS)
def test_paper_configs_use_the_paper_setting(motion):
    config = load_config(TrainConfig, CONFIGS / f"{motion}.yaml")
    assert config.prompt == PAPER_MOTIONS[motion] == motion.replace("_", " ")
    assert (config.data, config.output_dir, config.base) == (f"data/{motion}", f"outputs/{motion}", SD14)
    assert (config.num_frames, config.stride, config.height, config.width) == (16, 1, 320, 512)
    assert (config.batch_size, config.gradient_accumulation, config.learning_rate) == (1, 1, 3e-5)
    assert (config.lr_scheduler, config.adam_weight_decay, config.max_grad_norm) == ("constant", 1e-2, 1.0)
    assert (config.steps, config.seed, config.flip) == (30000, 33, True)
    assert (config.mixed_precision, config.gradient_checkpointing) == ("fp16", True)
    assert config.motion_conv and config.first_frame_attention and config.temporal_attention
    assert config.conv_mode == "causal" and config.first_frame_conditioning
    assert config.train_layers == "lamp" and config.motion_options().train_layers == "lamp"
    words = set(PAPER_MOTIONS[motion].split()) - {"the", "to"}
    for prompt in config.validation_prompts:  # validation prompts show the motion (in any word form)
        assert any(word[:4] in prompt for word in words), prompt


def test_edit_config_tunes_one_video_briefly():
    config = load_config(TrainConfig, CONFIGS / "edit_single_video.yaml")
    assert (config.num_frames, config.stride, config.steps) == (24, 2, 500)
    assert (config.base, config.height, config.width, config.learning_rate) == (SD14, 320, 512, 3e-5)
    assert config.flip is False


def test_repository_configs_are_the_packaged_ones():
    """`lamp train configs/X.yaml` from the repository root reads the file pip users get."""
    repo_configs = REPO / "configs"
    if not repo_configs.is_dir():
        pytest.skip("not a source checkout")
    in_repo = sorted(Path(p) for p in glob.glob(f"{repo_configs}/**/*.yaml", recursive=True))  # follows configs/toy
    assert {p.relative_to(repo_configs) for p in in_repo} == {p.relative_to(CONFIGS) for p in SHIPPED}
    for path in in_repo:
        assert path.resolve() == (CONFIGS / path.relative_to(repo_configs)).resolve(), path


def test_package_data_covers_every_config():
    tomllib = pytest.importorskip("tomllib")
    pyproject = REPO / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["lamp_motion"]
    packaged = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    assert set(SHIPPED) <= packaged, set(SHIPPED) - packaged


def test_configs_named_in_the_readme_exist():
    readme = REPO / "README.md"
    if not readme.is_file():
        pytest.skip("not a source checkout")
    named = set(re.findall(r"\bconfigs/[\w/.-]+\.yaml", readme.read_text()))
    assert named, "the README names no config"
    for name in sorted(named):
        assert (REPO / name).is_file(), name


def test_command_line_values_read_as_users_type_them():
    """`mixed_precision=no` stays the string "no" and `learning_rate=3e-5` is a float (YAML 1.1 says otherwise)."""
    config = load_config(TrainConfig, CONFIGS / "horse_run.yaml", ["mixed_precision=no", "learning_rate=1e-4", "flip=false"])
    assert (config.mixed_precision, config.learning_rate, config.flip) == ("no", 1e-4, False)
    with pytest.raises(ConfigError, match="flip must be true or false, got 'no'"):
        load_config(TrainConfig, None, ["flip=no"])


def test_train_layers_reach_the_model_options_and_bad_values_are_named():
    config = load_config(TrainConfig, CONFIGS / "toy" / "move_right.yaml", ["train_layers=attn1"])
    assert config.motion_options().train_layers == "attn1"
    with pytest.raises(ValueError, match="train_layers='all'"):
        load_config(TrainConfig, CONFIGS / "toy" / "move_right.yaml", ["train_layers=all"])
