"""fused_step: each trained tensor stepped during the backward pass gives the motion file of a whole step."""

from __future__ import annotations

import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from lamp_motion.data.toy.sets import make_set
from lamp_motion.training.config import TrainConfig
from lamp_motion.training.trainer import Trainer, train


@pytest.fixture(scope="module")
def toy_set(tmp_path_factory):
    data = tmp_path_factory.mktemp("toy") / "move_right"
    make_set("move_right", data, num_videos=2, num_frames=8, seed=0)
    return data


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """accelerate keeps one mixed-precision setting per process: forget it around each run."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def toy_config(data, out, **changes) -> TrainConfig:
    values = dict(data=str(data), output_dir=str(out), num_frames=4, height=32, width=32, steps=3,
                  learning_rate=1e-3, max_grad_norm=0.0, mixed_precision="no", gradient_checkpointing=False,
                  tensorboard=False, checkpoint_every=0, motion_dtype="fp32", seed=5)
    values.update(changes)
    return TrainConfig(**values)


@pytest.mark.parametrize("precision, checkpointing", [("no", False), ("bf16", True)])
def test_fused_step_writes_the_same_motion_file(toy_set, tmp_path, precision, checkpointing):
    files = {}
    for fused in (False, True):
        AcceleratorState._reset_state(reset_partial_state=True)
        config = toy_config(toy_set, tmp_path / f"fused-{fused}", fused_step=fused, mixed_precision=precision,
                            gradient_checkpointing=checkpointing)
        files[fused] = load_file(str(train(config)))
    assert files[True].keys() == files[False].keys()
    moved = [name for name, tensor in files[False].items() if ".temporal." in name and tensor.abs().max() > 0]
    assert moved, "the run trained nothing: the comparison would be empty"
    for name, tensor in files[False].items():
        torch.testing.assert_close(files[True][name], tensor, rtol=1e-5, atol=1e-7, msg=name)


def test_fused_step_steps_during_backward_and_leaves_no_gradient(toy_set, tmp_path):
    trainer = Trainer(toy_config(toy_set, tmp_path, fused_step=True, learning_rate=1e-2))
    trainer._setup()
    trained = trainer.video.trainable_parameters()
    before = {name: param.detach().clone() for name, param in trained.items()}
    trainer._optimizer_step(0)
    assert all(param.grad is None for param in trained.values())
    stepped = [name for name, param in trained.items() if not torch.equal(param, before[name])]
    assert any(".temporal." in name for name in stepped) and any("attn1.to_q" in name for name in stepped), stepped


@pytest.mark.parametrize("changes, named", [
    (dict(max_grad_norm=1.0), "max_grad_norm"),
    (dict(gradient_accumulation=2), "gradient_accumulation"),
    (dict(mixed_precision="fp16"), "mixed_precision"),
])
def test_fused_step_refuses_what_needs_every_gradient_first(toy_set, tmp_path, changes, named):
    with pytest.raises(ValueError, match=named):
        toy_config(toy_set, tmp_path, fused_step=True, **changes)
