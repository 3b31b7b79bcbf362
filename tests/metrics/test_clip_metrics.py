"""CLIP metrics with a tiny random CLIP saved to a folder, and the `lamp eval` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamp_motion.cli.main import main as lamp_main
from lamp_motion.metrics import clip_metrics
from lamp_motion.metrics.clip_metrics import DEFAULT_CLIP_MODEL, ClipModelError, ClipScorer, report_to_markdown
from lamp_motion.video_io import write_video


@pytest.fixture(scope="module")
def scorer(clip_folder: Path) -> ClipScorer:
    return ClipScorer.from_pretrained(clip_folder, device="cpu")


def _video(seed: int, frames: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(frames, 40, 48, 3), dtype=np.uint8)


def _direct_embeddings(scorer: ClipScorer, video: np.ndarray, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit image and text embeddings from CLIPModel's own forward pass."""
    images = [Image.fromarray(frame) for frame in video]
    pixels = scorer.image_processor(images=images, return_tensors="pt").pixel_values
    tokens = scorer.tokenizer([prompt], return_tensors="pt")
    with torch.no_grad():
        out = scorer.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, pixel_values=pixels)
    return out.image_embeds, out.text_embeds[0]


def test_metrics_equal_a_direct_computation(scorer: ClipScorer) -> None:
    first, second, prompt = _video(0), _video(1, frames=3), "a red circle moves"
    images, text = _direct_embeddings(scorer, first, prompt)
    assert scorer.alignment(first, prompt) == pytest.approx(100 * (images @ text).mean().item(), abs=1e-4)
    pairs = [100 * (images[i] @ images[j]).item() for i in range(4) for j in range(i + 1, 4)]
    assert scorer.consistency(first) == pytest.approx(np.mean(pairs), abs=1e-4)
    other, _ = _direct_embeddings(scorer, second, prompt)
    expected = 100 * torch.cosine_similarity(images.mean(0), other.mean(0), dim=0).item()
    assert scorer.diversity([first, second]) == pytest.approx(expected, abs=1e-4)
    assert "torchvision" not in sys.modules


def test_identical_frames_and_videos_score_100(scorer: ClipScorer) -> None:
    still = np.repeat(_video(2, frames=1), 5, axis=0)
    assert scorer.consistency(still) == pytest.approx(100.0, abs=1e-4)
    video = _video(3)
    assert scorer.diversity([video, video.copy(), video]) == pytest.approx(100.0, abs=1e-4)
    with pytest.raises(ValueError, match="at least 2 frames"):
        scorer.consistency(still[:1])


def _markdown_rows(markdown: str) -> list[list[str]]:
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows]


def test_report_json_and_markdown_agree(scorer: ClipScorer) -> None:
    videos = [(_video(4), "a red circle", "slide"), (_video(5), "a blue square", "slide"), (_video(6), "a green triangle", "spin")]
    report = json.loads(json.dumps(scorer.evaluate(videos, names=["a", "b", "c"], progress=False)))
    assert report["motions"]["slide"]["diversity"] == pytest.approx(scorer.diversity([videos[0][0], videos[1][0]]), abs=1e-4)
    assert report["motions"]["spin"]["diversity"] is None
    assert report["overall"]["alignment"] == pytest.approx(np.mean([row["alignment"] for row in report["videos"]]))
    rows = {row[0]: row for row in _markdown_rows(report_to_markdown(report))}
    for motion, summary in [*report["motions"].items(), ("all", report["overall"])]:
        numbers = ["n/a" if summary[key] is None else f"{summary[key]:.2f}" for key in ("alignment", "consistency", "diversity")]
        assert rows[motion][1:] == [str(summary["videos"]), *numbers]
    for video in report["videos"]:
        assert rows[video["name"]][1:] == [video["motion"], video["prompt"], str(video["frames"]),
                                           f"{video['alignment']:.2f}", f"{video['consistency']:.2f}"]


def test_missing_folder_fails_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ClipModelError, match="does not exist"):
        ClipScorer.from_pretrained(tmp_path / "no_clip_here")


def test_missing_hub_model_offline_fails_without_touching_the_network(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(clip_metrics, "_reachable", _no_probe)
    monkeypatch.setattr(clip_metrics, "_load_parts", _only_local(clip_metrics._load_parts))
    with pytest.raises(ClipModelError, match="huggingface-cli download lamp-motion-tests/no-such-clip"):
        ClipScorer.from_pretrained("lamp-motion-tests/no-such-clip")


def _no_probe(host: str, port: int, timeout_s: float) -> bool:
    raise AssertionError(f"probed {host}:{port} with HF_HUB_OFFLINE set")


def test_unreachable_hub_fails_without_a_download_attempt(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(clip_metrics, "_reachable", lambda host, port, timeout_s: False)
    monkeypatch.setattr(clip_metrics, "_load_parts", _only_local(clip_metrics._load_parts))
    with pytest.raises(ClipModelError, match="cannot be reached.*--local-dir"):
        ClipScorer.from_pretrained("lamp-motion-tests/no-such-clip")


def _only_local(load):
    def guarded(source: str, local_files_only: bool):
        assert local_files_only, "tried the network"
        return load(source, local_files_only)
    return guarded


def test_folder_without_tokenizer_files_is_refused(clip_folder: Path, tmp_path: Path) -> None:
    for name in ("config.json", "model.safetensors", "processor_config.json"):
        (tmp_path / name).write_bytes((clip_folder / name).read_bytes())
    with pytest.raises(ClipModelError, match="tokenizer files"):
        ClipScorer.from_pretrained(tmp_path)


def _generated(folder: Path, name: str, video: np.ndarray, **record) -> Path:
    write_video(folder / f"{name}.gif", video, fps=8)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**record, "videos": {"gif": f"{name}.gif"}}))
    return path


def test_lamp_eval_command(clip_folder: Path, tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    _generated(runs, "one", _video(7), prompt="a red circle", motion="motions/slide.safetensors")
    _generated(runs, "two", _video(8), prompt="a blue square", motion="slide")
    loose = tmp_path / "three.gif"
    write_video(loose, _video(9), fps=8)
    loose.with_suffix(".json").write_text(json.dumps({"prompt": "a green triangle", "motion": "spin"}))
    out = tmp_path / "eval"
    assert lamp_main(["eval", str(runs), str(loose), "--clip", str(clip_folder), "--out", str(out)]) == 0
    report = json.loads((out / "eval.json").read_text())
    assert [row["prompt"] for row in report["videos"]] == ["a red circle", "a blue square", "a green triangle"]
    assert list(report["motions"]) == ["slide", "spin"] and report["overall"]["videos"] == 3
    markdown = (out / "eval.md").read_text()
    assert markdown in capsys.readouterr().out


def test_lamp_eval_reports_a_missing_prompt(clip_folder: Path, tmp_path: Path, capsys) -> None:
    record = _generated(tmp_path, "clip", _video(10), motion="slide")
    assert lamp_main(["eval", str(record), "--clip", str(clip_folder), "--out", str(tmp_path / "eval")]) == 2
    assert 'clip.json has no "prompt"' in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_eval_help_names_the_default_model(capsys) -> None:
    with pytest.raises(SystemExit):
        lamp_main(["eval", "--help"])
    assert DEFAULT_CLIP_MODEL in capsys.readouterr().out
