"""The package's structure, read from its imports: data flows one way, detect/, train/ and infer/ have no
import circles,
and benchmarks and the CLI use public names only."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "benthos"
LOW = ("models", "data", "runs", "cost", "errors")  # what everything else builds on
HIGH = ("tasks", "cli", "train", "detect", "ecology", "report", "infer", "evaluate")


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for every import statement, at any depth of the file."""
    out = []
    inside = SRC in path.parents
    package = (_module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]) if inside else ""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out.append((base, [a.name for a in node.names]))
    return out


def _resolve(module: str, names: list[str]) -> list[str]:
    """Modules of the package an import statement loads: ``from benthos.detect import tta`` is a module."""
    if not module.startswith("benthos"):
        return []
    found = [module]
    for n in names:
        sub = SRC.parent / Path(*f"{module}.{n}".split("."))
        if sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file():
            found.append(f"{module}.{n}")
    return found


GRAPH = {_module(p): {m for mod, names in _imports(p) for m in _resolve(mod, names)} - {_module(p)}
         for p in SRC.rglob("*.py")}


@pytest.mark.parametrize("package", ["detect", "train", "infer"])
def test_no_import_circles_inside(package):
    nodes = {m for m in GRAPH if m.startswith(f"benthos.{package}.")}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(GRAPH[m] & nodes):
            if state.get(n) == 1:
                pytest.fail("import circle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(nodes):
        if m not in state:
            visit(m, [m])


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_low_layers_never_import_high_ones():
    bad = [(m, n) for m, deps in GRAPH.items() if _layer(m) in LOW for n in deps if _layer(n) in HIGH]
    assert not bad, f"low layers importing high ones: {bad}"


def test_nothing_imports_the_cli_or_the_jobs_from_below():
    bad = [(m, n) for m, deps in GRAPH.items() if _layer(m) not in ("cli", "tasks", "", "__main__")
           for n in deps if n.startswith(("benthos.cli", "benthos.tasks"))]
    assert not bad, bad


@pytest.mark.parametrize("folder", ["benchmarks", "src/benthos/cli"])
def test_benchmarks_and_the_cli_use_public_names_only(folder):
    private = []
    for path in (ROOT / folder).glob("*.py"):
        for module, names in _imports(path):
            if not module.startswith("benthos"):
                continue
            hidden = [p for p in module.split(".") + names if p.startswith("_") and not p.startswith("__")]
            if hidden:
                private.append(f"{path.name}: {module} {names}")
    assert not private, private


def test_the_cli_parser_does_not_import_torch():
    """`benthos --help` is instant: building every command's flags loads no heavy library."""
    import subprocess
    import sys

    code = ("import sys; from benthos.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'torchvision', 'lightning', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
