"""The rooms of ``reconcile`` keep their layering: every import under ``reconcile/`` (function bodies too) is parsed.

Lower layers never import higher ones, rooms of one layer never import each other
in a circle, no module imports another module's underscored names, only the
resource module reads ``__reconcile__``, and each third-party library is imported
where ARCHITECTURE says (by one module, unless listed below).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconcile"

# Layer of each room (ARCHITECTURE, "Rooms"); "beside" rooms sit on top of everything.
LAYERS: dict[str, float] = {
    "errors": 0,
    "_model": 1,
    "_typecheck": 1.5,
    "_graph": 2,
    "_state": 2,
    "_plan": 3,
    "_planfile": 4,
    "_render": 4,
    "_apply": 5,
    "storage": 6,
    "journal": 6,
    "controller": 6,
    "fleet": 7,
    "testing": 8,
    "cli": 8,
    "__main__": 8,
}
# The top facade exports the engine's user path (layers 0-5) only.
TOP_FACADE_LAYER = 5

# Third-party libraries imported by more than one module, and where they may be.
SHARED_LIBRARIES: dict[str, tuple[str, ...]] = {
    "attrs": ("reconcile",),  # class definitions everywhere
    "hypothesis": ("reconcile.testing",),  # the harness is the hypothesis integration
    "cattrs": ("reconcile._planfile",),  # the converter, and the file format reading its errors
    # Two command lines, one per room: `reconcile` (the engine) and `reconcile-fleet` (the fleet).
    "click": ("reconcile.cli", "reconcile.fleet.cli"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_imports() -> list[tuple[str, str, tuple[str, ...], int]]:
    """``(importer, imported module, names, line)`` for every import statement in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        type_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if (
                id(node) in type_only
                and isinstance(node, (ast.Import, ast.ImportFrom))
                and not getattr(node, "level", 0)
            ):
                continue  # a type-only import of a library loads nothing
            if isinstance(node, ast.Import):
                found += [(importer, a.name, (), node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = importer.split(".")
                    if not is_package:
                        base = base[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found.append((importer, target, tuple(a.name for a in node.names), node.lineno))
    return found


IMPORTS = all_imports()


def room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "reconcile":
        return None
    return parts[1] if len(parts) > 1 else ""


def test_every_room_has_a_layer():
    rooms = {room(m) for m, *_ in IMPORTS} - {""}
    assert rooms <= set(LAYERS), f"rooms without a layer: {sorted(rooms - set(LAYERS))}"


def test_no_room_imports_a_higher_layer():
    upward = []
    for importer, target, _names, line in IMPORTS:
        src, dst = room(importer), room(target)
        if dst is None or dst == "" or src == dst:
            continue
        limit = TOP_FACADE_LAYER if src == "" else LAYERS[src]
        if LAYERS[dst] > limit:
            upward.append(f"{importer}:{line} imports {target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_rooms_do_not_import_each_other_in_a_circle():
    g = nx.DiGraph()
    for importer, target, _names, _line in IMPORTS:
        src, dst = room(importer), room(target)
        if src and dst and src != dst:
            g.add_edge(src, dst)
    assert list(nx.simple_cycles(g)) == []


def test_modules_inside_a_room_do_not_import_each_other_in_a_circle():
    g = nx.DiGraph()
    for importer, target, _names, _line in IMPORTS:
        if room(importer) and room(importer) == room(target) and importer != target:
            g.add_edge(importer, target)
    packages = {m for m in g if (PACKAGE.parent / m.replace(".", "/") / "__init__.py").exists()}
    # A package's facade importing its own modules is the one expected back edge.
    cycles = [c for c in nx.simple_cycles(g) if not set(c) & packages]
    assert cycles == []


def test_no_module_imports_another_modules_underscored_names():
    found = [
        f"{importer}:{line} imports {name} from {target}"
        for importer, target, names, line in IMPORTS
        if room(target) is not None
        for name in names
        if name.startswith("_") and name != "__version__"
    ]
    assert not found, "\n".join(found)


def test_no_module_imports_a_private_module_of_another_room():
    # Across rooms, code goes through the room's facade (its __init__).
    found = []
    for importer, target, _names, line in IMPORTS:
        src, dst = room(importer), room(target)
        if dst and src != dst and dst.startswith("_") and target.count(".") > 1:
            found.append(f"{importer}:{line} imports {target}")
    assert not found, "\n".join(found)


def test_only_the_resource_module_reads_the_class_marker():
    readers = sorted(
        module_name(p) for p in PACKAGE.rglob("*.py") if "__reconcile__" in p.read_text() and p.name != "resource.py"
    )
    assert readers == []


def test_each_third_party_library_is_imported_by_one_module():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    users: dict[str, set[str]] = {}
    for importer, target, _names, _line in IMPORTS:
        top = target.split(".")[0]
        if top and top not in stdlib and top != "reconcile":
            users.setdefault(top, set()).add(importer)
    wrong = []
    for lib, modules in sorted(users.items()):
        allowed = SHARED_LIBRARIES.get(lib)
        if allowed is not None:
            if not all(any(m == a or m.startswith(a + ".") for a in allowed) for m in modules):
                wrong.append(f"{lib}: {sorted(modules)}")
        elif len(modules) != 1:
            wrong.append(f"{lib}: {sorted(modules)}")
    assert not wrong, "libraries imported by more than one module:\n" + "\n".join(wrong)


@pytest.mark.parametrize("library", ["networkx", "deepdiff", "hypothesis"])
def test_import_reconcile_does_not_load_heavy_libraries(library):
    import subprocess

    code = f"import sys, reconcile; print({library!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
