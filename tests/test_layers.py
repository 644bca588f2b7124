"""The import graph of analysis/ and tasks/, read from the source (ast): layers only import downwards, nothing
imports in a circle (imports inside functions included), and the library never imports law."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# bottom first; a module may import its own layer and those below (the longest matching prefix decides)
LAYERS = [
    ["analysis.accelerated", "analysis.atomic",  # run-time switch, file writing
     "analysis.file_lock", "analysis.locks",  # locking (the file lock below the modes that use it)
     "analysis.schema", "analysis.codes",  # the base of the config schemas, the dataset's split/label codes
     "analysis.btag",  # the b-tag setting's defaults and check
     "analysis.forked"],  # shared memory of the forked workers of one run
    ["analysis.kinematics", "analysis.models.options"],
    ["analysis.io"],
    ["analysis.generation", "analysis.selection", "analysis.skim"],
    ["analysis.features"],
    ["analysis.event_features", "analysis.dataset", "analysis.normalisation", "analysis.metrics", "analysis.challenge",
     "analysis.event_scores", "analysis.history"],
    ["analysis.models"],
    ["analysis.config", "analysis.config_schema", "analysis.training", "analysis.export"],
    ["analysis.diagnostics", "analysis.plotting", "analysis.report", "analysis.results"],
    ["analysis.sensitivity"],
    ["tasks"],
]


def _modules() -> dict[str, Path]:
    out = {}
    for package in ("analysis", "tasks"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its source (a package's name for its __init__)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in ("analysis", "tasks", "law", "luigi"))
    return found - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    best, rank = "", None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > len(best):
                best, rank = p, i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    return rank


def test_layers_only_import_downwards():
    graph = _graph()
    upward = [f"{a} ({_layer(a)}) imports {b} ({_layer(b)})" for a, deps in sorted(graph.items()) for b in sorted(deps)
              if b.split(".")[0] in ("analysis", "tasks") and _layer(b) > _layer(a)]
    assert upward == []
    assert not [(a, b) for a, deps in graph.items() if a.startswith("analysis") for b in deps
                if b.split(".")[0] in ("tasks", "law", "luigi")]  # the library never imports the workflow
    assert {"analysis.kinematics.clustering", "analysis.io.delphes"} <= graph.keys()
    assert "analysis.kinematics.clustering" in graph["analysis.io.delphes"]  # the layer is what io builds on


def test_no_import_cycles():
    graph = {a: {b for b in deps if b in _modules()} for a, deps in _graph().items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []
