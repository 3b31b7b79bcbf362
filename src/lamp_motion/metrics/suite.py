"""The paper's evaluation protocol for `lamp eval --suite`: prompts per motion, and the table next to Table 1.

Each motion file is matched to a prompt set: the paper's eight motions ship in
``paper_prompts.yaml`` (six prompts each); any other motion needs a user YAML of the
same format (``--prompts FILE``), which is searched first. A motion file belongs to
the set whose name or one of whose aliases equals, up to case and ``_``/``-``/space,
its training prompt, its file name or its folder name (in that order).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..errors import SettingError
from ..models.motion_file import read_motion_header
from . import paper

PAPER_PROMPTS = "paper_prompts.yaml"


class SuiteError(SettingError):
    """A motion or prompt file the suite cannot use; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class EvalPrompt:
    """One evaluation video's prompt and the prompt of its first frame."""

    prompt: str  # the video prompt, also the text the CLIP alignment is scored against
    image_prompt: str  # the first-frame model's prompt (default: the video prompt)


@dataclass(frozen=True)
class PromptSet:
    """The evaluation prompts of one motion, from the paper's file or a user's."""

    name: str  # the motion's name in the tables, e.g. "horse_run"
    aliases: tuple[str, ...]  # other names a motion file may carry
    prompts: tuple[EvalPrompt, ...]
    source: str  # "paper" or the user's YAML path


@dataclass(frozen=True)
class SuiteMotion:
    """A motion file with the prompt set it is evaluated on."""

    path: Path
    prompts: PromptSet

    @property
    def name(self) -> str:
        return self.prompts.name


def paper_prompt_sets() -> dict[str, PromptSet]:
    """The packaged prompt sets of the paper's eight motions."""
    text = resources.files(__package__).joinpath(PAPER_PROMPTS).read_text(encoding="utf-8")
    return _parse_prompt_sets(yaml.safe_load(text), "paper", PAPER_PROMPTS)


def load_prompt_sets(path: str | os.PathLike[str]) -> dict[str, PromptSet]:
    """Prompt sets from a user's YAML: ``motion: [prompt, ...]`` or ``motion: {aliases: [...], prompts: [...]}``."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"prompt file {path} does not exist; pass a YAML that maps each motion to its evaluation prompts")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SuiteError(f"{path} is not valid YAML: {error}") from error
    return _parse_prompt_sets(data, str(path), str(path))


def resolve_motions(motion_files: list[str | os.PathLike[str]], prompts_file: str | os.PathLike[str] | None = None) -> list[SuiteMotion]:
    """Each motion file with its prompt set (the user's file first, then the paper's); clear errors otherwise."""
    if not motion_files:
        raise SuiteError("the suite needs at least one motion file ({motions} FILE)", "motions")
    user = load_prompt_sets(prompts_file) if prompts_file is not None else {}
    known = [*user.values(), *paper_prompt_sets().values()]
    motions: list[SuiteMotion] = []
    for motion_file in motion_files:
        path = Path(motion_file)
        header = read_motion_header(path)
        names = [name for name in (header.prompt, path.stem, path.parent.name) if name]
        found = next((prompt_set for name in names for prompt_set in known
                      if _key(name) in {_key(prompt_set.name), *map(_key, prompt_set.aliases)}), None)
        if found is None:
            searched = f"{prompts_file} nor among" if prompts_file is not None else "not one of"
            example = _key(header.prompt or path.stem).replace(" ", "_") or "my_motion"
            raise SuiteError(
                f"{path} (motion prompt {header.prompt!r}) is {searched} the paper's motions ({', '.join(paper.MOTIONS)}), "
                f"so the suite has no prompts for it; pass {{prompts}} FILE, a YAML that maps the motion to its "
                f"evaluation prompts, e.g. \"{example}: [a first prompt, a second prompt]\" (or name the motion's folder "
                f"after a paper motion)", "prompts")
        clash = next((other for other in motions if other.name == found.name), None)
        if clash is not None:
            raise SuiteError(f"{clash.path} and {path} are both motion {found.name!r}; evaluate one motion file per motion")
        motions.append(SuiteMotion(path, found))
    return motions


def suite_to_markdown(report: dict, motions: list[SuiteMotion], settings: str) -> str:
    """The suite's CLIP scores, one row per motion and over all of them, next to the paper's Table 1."""
    lines = [f"LAMP evaluation suite: {len(motions)} motion(s), {report['overall']['videos']} videos; {settings}.",
             f"CLIP scores, {report['scale']}, CLIP model {report['clip_model']} (the paper does not name its CLIP). "
             f"The paper's Table 1 rows are over its {paper.TABLE_1_VIDEOS} videos ({len(paper.MOTIONS)} motions x "
             f"{paper.PROMPTS_PER_MOTION} prompts); a motion's diversity is over the pairs of its own videos, that of "
             "\"all motions\" over all pairs, as in the paper.", "",
             "| motion | videos | alignment ↑ | consistency ↑ | diversity ↓ |", "|---|---:|---:|---:|---:|"]
    rows = [(motion.name, report["motions"][motion.name]) for motion in motions] + [("all motions", report["overall"])]
    for name, summary in rows:
        cells = ["n/a" if summary[key] is None else f"{summary[key]:.2f}" for key in paper.METRICS]
        lines.append(f"| {name} | {summary['videos']} | {' | '.join(cells)} |")
    for method, scores in paper.TABLE_1.items():
        cells = [f"{scores[key]:.{paper.TABLE_1_DECIMALS}f}" for key in paper.METRICS]
        lines.append(f"| paper Table 1: {method} | {paper.TABLE_1_VIDEOS} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _key(name: str) -> str:
    """A name compared up to case and separators: "Horse_Run", "horse-run" and "horse run" are alike."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.lower()).split())


def _parse_prompt_sets(data: object, source: str, where: str) -> dict[str, PromptSet]:
    if not isinstance(data, dict) or not data:
        raise SuiteError(f"{where} must map motion names to their prompts, e.g. \"horse_run: [a horse runs on the road]\"")
    sets = {}
    for name, value in data.items():
        aliases: object = []
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"aliases", "prompts"})
            if unknown or "prompts" not in value:
                raise SuiteError(f"{where}: motion {name!r} must have \"prompts\" (and may have \"aliases\"); "
                                 f"{'unknown key(s) ' + ', '.join(map(str, unknown)) if unknown else 'no prompts given'}")
            aliases, value = value.get("aliases") or [], value["prompts"]
        if not isinstance(value, list) or not value:
            raise SuiteError(f"{where}: motion {name!r} needs a non-empty list of prompts")
        if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
            raise SuiteError(f"{where}: the aliases of motion {name!r} must be a list of strings")
        prompts = tuple(_parse_prompt(item, f"{where}: motion {name!r}") for item in value)
        repeated = [p.prompt for i, p in enumerate(prompts) if _key(p.prompt) in {_key(q.prompt) for q in prompts[:i]}]
        if repeated:
            raise SuiteError(f"{where}: motion {name!r} lists the prompt {repeated[0]!r} twice")
        sets[str(name)] = PromptSet(str(name), tuple(aliases), prompts, source)
    return sets


def _parse_prompt(item: object, where: str) -> EvalPrompt:
    if isinstance(item, str) and item.strip():
        return EvalPrompt(item.strip(), item.strip())
    if isinstance(item, dict) and isinstance(item.get("prompt"), str) and item["prompt"].strip():
        unknown = sorted(set(item) - {"prompt", "image_prompt"})
        image_prompt = item.get("image_prompt") or item["prompt"]
        if unknown or not isinstance(image_prompt, str):
            raise SuiteError(f"{where}: a prompt entry has only \"prompt\" and \"image_prompt\" (strings), got {item}")
        return EvalPrompt(item["prompt"].strip(), image_prompt.strip())
    raise SuiteError(f"{where}: each prompt must be a non-empty string or {{prompt: ..., image_prompt: ...}}, got {item!r}")
