"""The package's layers hold: no module imports one of a higher layer (an AST walk of every import).

models < data < pipelines < metrics < training < jobs < ui < cli (< testing); the modules at
the package's top (files, video_io, config_io, errors, builtin, settings) are below them all and
import none of them. The default base (``builtin``) is resolved above ``models/``. Inside a
layer, no modules import each other in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lamp_motion

PACKAGE = Path(lamp_motion.__file__).resolve().parent
RANKS = {"files": 0, "video_io": 0, "config_io": 0, "errors": 0, "builtin": 0, "settings": 0, "models": 1, "data": 2,
         "pipelines": 3, "metrics": 4, "training": 5, "jobs": 6, "ui": 7, "cli": 8, "testing": 9}
FORBIDDEN = {"models": {"builtin"}}  # beyond the ranks: models loads a base it is given, never the default


def part_of(module: str) -> str | None:
    """The layer of a dotted module name inside the package ("lamp_motion.models.loading" -> "models")."""
    parts = module.split(".")
    return parts[1] if parts[0] == "lamp_motion" and len(parts) > 1 else None


def imported_modules(source: str, module: str, is_package: bool) -> list[str]:
    """Absolute names of every module ``source`` (the text of ``module``) imports, at any depth of its code."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(target)
            if not node.module:  # "from .. import x": x may be a module
                found += [f"{target}.{alias.name}" for alias in node.names]
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """"importer -> imported" for each import of ``module``'s ``source`` that goes to a higher layer."""
    own = part_of(module)
    if own is None or own not in RANKS:
        return []
    bad = []
    for target in imported_modules(source, module, is_package):
        layer = part_of(target)
        if layer is None or layer == own or layer not in RANKS:
            continue
        if RANKS[layer] > RANKS[own] or (RANKS[layer] == RANKS[own] and RANKS[own] > 0) or layer in FORBIDDEN.get(own, ()):
            bad.append(f"{module} -> {target}")
    return bad


def package_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        is_package = relative.name == "__init__"
        parts = relative.parts[:-1] if is_package else relative.parts
        yield path, ".".join(parts), is_package


def import_graph(modules: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """module -> the package's modules it imports, for ``modules`` (name -> (source, is_package))."""
    graph = {}
    for module, (source, is_package) in modules.items():
        targets = set()
        for target in imported_modules(source, module, is_package):
            while target and target not in modules:  # "from .x import name": the module is x
                target = target.rpartition(".")[0]
            if target and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle of ``graph`` once, as the path from its first module back to that module."""
    found, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                circle = path[path.index(target):]
                if not any(set(circle) == set(known) for known in found):
                    found.append(circle + [target])
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    return found


def test_every_layer_of_the_package_is_known() -> None:
    layers = {part_of(module) for _, module, _ in package_modules()} - {None}
    assert layers - {"__init__"} <= set(RANKS), f"layers without a rank: {sorted(layers - set(RANKS))}"


def test_no_module_imports_a_higher_layer() -> None:
    bad = []
    for path, module, is_package in package_modules():
        bad += violations(path.read_text(encoding="utf-8"), module, is_package)
    assert bad == []


def test_the_check_catches_upward_and_relative_imports() -> None:
    assert violations("from ..data.toy import scene", "lamp_motion.models.loading") == \
        ["lamp_motion.models.loading -> lamp_motion.data.toy"]
    assert violations("def f():\n    from ..cli.main import main\n", "lamp_motion.jobs.demo") == \
        ["lamp_motion.jobs.demo -> lamp_motion.cli.main"]
    assert violations("import lamp_motion.jobs.generate", "lamp_motion.pipelines.editing") == \
        ["lamp_motion.pipelines.editing -> lamp_motion.jobs.generate"]
    assert violations("from ..builtin import resolve_base", "lamp_motion.models.loading") != []
    assert violations("from ..builtin import resolve_base", "lamp_motion.pipelines.lamp_pipeline") == []
    assert violations("from . import common", "lamp_motion.jobs", is_package=True) == []
    assert violations("from ..models import VideoUNet", "lamp_motion.training.trainer") == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    modules = {module: (path.read_text(encoding="utf-8"), is_package) for path, module, is_package in package_modules()}
    assert circles(import_graph(modules)) == []


def test_the_check_catches_a_circle_through_a_type_checking_import() -> None:
    modules = {"lamp_motion.models.a": ("from .b import B\n", False),
               "lamp_motion.models.b": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n", False),
               "lamp_motion.models.c": ("from .a import A\n", False)}
    assert circles(import_graph(modules)) == [["lamp_motion.models.a", "lamp_motion.models.b", "lamp_motion.models.a"]]
