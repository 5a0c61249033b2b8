"""The import rules of docs/architecture.md, checked on the real import graph (every import statement, including
those inside functions and ``TYPE_CHECKING`` blocks): no cycles, and every module imports only its own layer or
the layers below it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "vidgru"

# Lowest first. A module may import modules of its own layer and of the layers above it in this list. The
# package root ``vidgru`` is a lazy facade: only ``__version__`` may be imported from it (by the checkpoint
# writer and ``vidgru info``).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("vidgru.errors", "vidgru.choices", "vidgru.paths", "vidgru.fileio", "vidgru.types",
              "vidgru.settings")),
    ("formats", ("vidgru.video", "vidgru.mot", "vidgru.motion_features", "vidgru.checkpoint", "vidgru.sinks",
                 "vidgru.track.boxes", "vidgru.track.association", "vidgru.track.kalman", "vidgru.stills")),
    ("models", ("vidgru.backbone", "vidgru.temporal", "vidgru.detect", "vidgru.analytics",
                "vidgru.track.gru_motion", "vidgru.track.tracker", "vidgru.shots",
                "vidgru.exported", "vidgru.regions")),
    ("stages", ("vidgru.classify", "vidgru.track.pipeline", "vidgru.image_classify")),
    ("jobs", ("vidgru.train", "vidgru.batch", "vidgru.metrics", "vidgru.export")),
    ("edge", ("vidgru.config", "vidgru.cli", "vidgru.__main__")),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The vidgru modules ``name`` imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{name} is in no layer of docs/architecture.md; add it to LAYERS and the document")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer_and_imports_only_downwards(graph):
    wrong = []
    for name, targets in graph.items():
        if name == "vidgru":
            continue
        for target in targets:
            if target == "vidgru":
                continue  # __version__, checked below
            if _layer(target) > _layer(name):
                wrong.append(f"{name} ({LAYERS[_layer(name)][0]}) imports {target} ({LAYERS[_layer(target)][0]})")
    assert not wrong, "\n".join(wrong)


def test_the_package_root_is_imported_only_for_its_version():
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "vidgru" and not node.level:
                names = {alias.name for alias in node.names}
                assert names <= {"__version__"} | {p.stem for p in ROOT.iterdir()}, (path, names)


def test_no_import_cycles(graph):
    """Tarjan's strongly connected components: every component must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_rule_catches_an_upward_import(graph):
    """The check itself can fail: a stage importing the command line is caught."""
    bad = dict(graph)
    bad["vidgru.video.source"] = graph["vidgru.video.source"] | {"vidgru.cli"}
    with pytest.raises(AssertionError, match="vidgru.video.source .* imports vidgru.cli"):
        test_every_module_has_a_layer_and_imports_only_downwards(bad)


def test_importing_the_command_line_and_the_stages_does_no_heavy_work():
    """Nothing at import: the CLI, the stages and the batch package load neither torch nor a model."""
    code = ("import sys, vidgru.cli, vidgru.classify, vidgru.track.pipeline, vidgru.batch, vidgru.detect, "
            "vidgru.backbone, vidgru.video, vidgru.shots, vidgru.exported, vidgru.image_classify, vidgru.stills\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'onnxruntime', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
