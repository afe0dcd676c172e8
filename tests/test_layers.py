"""The layer map of DESIGN §1, held against the code: imports point down, the methods never import
each other, no package reaches into another's private modules, and ``aujax.datasets`` is free of
jax.

The package is parsed with ``ast`` (nothing is imported), so every import counts: module-level,
inside functions, and under ``TYPE_CHECKING``.
"""

import ast
import pathlib
import subprocess
import sys

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[1] / "aujax"

# DESIGN §1: what each layer may import besides itself ("_checks" is the shared validation module
# every package uses, "_digest" the shared cache-key digest; they import nothing of aujax).
_BELOW_METHODS = {
    "face",
    "physics",
    "optim",
    "geometry",
    "render",
    "datasets",
    "synth",
    "nn",
    "train",
}
ALLOWED: dict[str, set[str]] = {
    "_checks": set(),
    "_digest": set(),
    "face": set(),
    "geometry": set(),
    "optim": set(),
    # physics -> optim (issue 17): DESIGN §1 gives physics the inversion and optim the NNLS it
    # solves; optim imports nothing of aujax, so the graph stays acyclic
    "physics": {"face", "optim"},
    "render": {"geometry"},
    "datasets": {"face"},
    "synth": {"face", "physics", "geometry", "optim", "render", "datasets"},
    "nn": {"face", "geometry"},
    "train": {"datasets"},
    "methods": _BELOW_METHODS,
    "detect": (_BELOW_METHODS - {"synth"}) | {"methods"},
}
SHARED = {"_checks", "_digest"}  # may be imported by every layer


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line, absolute target) of every import of aujax in a file; ``from X import y`` gives both
    ``X`` and ``X.y`` (y may be a module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return [(line, t) for line, t in out if t == "aujax" or t.startswith("aujax.")]


def _files():
    return sorted(ROOT.rglob("*.py"))


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _unit(module: str) -> str:
    """The package that owns a module: ``aujax.methods.physics`` for its files, else the layer."""
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "methods":
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def _exists(module: str) -> bool:
    rel = pathlib.Path(*module.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def test_every_layer_is_on_the_map():
    layers = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    layers |= {p.stem for p in ROOT.glob("_*.py") if p.stem != "__init__"}
    assert layers <= set(ALLOWED), f"layers missing from the map: {sorted(layers - set(ALLOWED))}"


def test_imports_point_down():
    bad = []
    for path in _files():
        src = _module_name(path)
        layer = _layer(src)
        if not layer:
            continue
        for line, target in _imports(path):
            tl = _layer(target)
            if not tl or tl == layer or tl in SHARED:
                continue
            if tl not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {layer} imports {target}")
    assert not bad, "imports that run up or across the layers of DESIGN §1:\n" + "\n".join(bad)


def test_methods_never_import_each_other():
    bad = []
    for path in (ROOT / "methods").rglob("*.py"):
        src = _unit(_module_name(path))
        for line, target in _imports(path):
            if _layer(target) == "methods" and len(target.split(".")) > 2:
                if _unit(target) != src and src != "aujax.methods":
                    bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {src} imports {target}")
    assert not bad, "methods import each other:\n" + "\n".join(bad)


def test_no_package_reaches_into_another_private_module():
    bad = []
    for path in _files():
        src = _unit(_module_name(path))
        for line, target in _imports(path):
            parts = target.split(".")
            for i, p in enumerate(parts[1:], start=1):
                if (
                    p.startswith("_")
                    and not p.startswith("__")
                    and _exists(".".join(parts[: i + 1]))
                ):
                    owner = _unit(".".join(parts[: i + 1]))
                    private_module = ".".join(parts[: i + 1])
                    if owner != src and private_module not in {f"aujax.{s}" for s in SHARED}:
                        bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {src} imports "
                                   f"{private_module}")  # fmt: skip
                    break
    assert not bad, "imports of another package's private module:\n" + "\n".join(bad)


@pytest.mark.parametrize("package", ["aujax.datasets"])
def test_importing_datasets_does_not_import_jax(package):
    code = (
        f"import sys, {package}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'jax'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing {package} imported {out.stdout.strip()}"


def test_the_map_catches_a_violation(tmp_path, monkeypatch):
    """The checks above can fail: a file that imports up, sideways and privately is reported."""
    fake = tmp_path / "aujax"
    (fake / "face").mkdir(parents=True)
    (fake / "render").mkdir()
    (fake / "methods" / "a").mkdir(parents=True)
    (fake / "methods" / "b").mkdir(parents=True)
    for d in ("", "face", "render", "methods", "methods/a", "methods/b"):
        (fake / d / "__init__.py").write_text("")
    (fake / "render" / "_x.py").write_text("")
    (fake / "face" / "_bad.py").write_text("from ..render import _x\n")
    (fake / "methods" / "a" / "_m.py").write_text("from ..b import thing\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    with pytest.raises(AssertionError, match="face imports aujax.render"):
        test_imports_point_down()
    with pytest.raises(AssertionError, match="aujax.methods.a imports aujax.methods.b"):
        test_methods_never_import_each_other()
    with pytest.raises(AssertionError, match="imports aujax.render._x"):
        test_no_package_reaches_into_another_private_module()
