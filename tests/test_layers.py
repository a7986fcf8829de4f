"""The house's layering, read from the source (imports inside functions count):

- no import circles among bot/ modules;
- the foundation imports nothing from the floors above it;
- the sender and the send contract import no Zalo module;
- nothing in bot/ imports the simulator but the `bot simulator` command, and the simulator
  imports nothing from bot/.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FOUNDATION = (
    "bot.store",
    "bot.nlu",
    "bot.config",
    "bot.envelope",
    "bot.coord",
    "bot.loops",
    "bot.i18n",
    "bot.timeutil",
    "bot.crypto",
    "bot.text",
    "bot.categories",
    "bot.images",
)
UPPER = (
    "bot.channels",
    "bot.conversation",
    "bot.notices",
    "bot.broadcasts",
    "bot.feedback",
    "bot.api",
    "bot.inbound",
    "bot.outbound",
    "bot.app",
    "bot.cli",
    "bot.handlers",
)


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:  # Alembic's scripts are loaded by Alembic, not imported
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every module name an import statement in the file names (top level or in functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _graph() -> dict[str, set[str]]:
    modules = _modules("bot")

    def owner(target: str) -> str | None:  # the module a dotted name lives in
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph = {}
    for name, path in modules.items():
        graph[name] = {
            o for t in _imports(name, path) if (o := owner(t)) and o != name and o != "bot"
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_in_bot():
    assert _cycles(_graph()) == []


def test_the_foundation_imports_nothing_above_it():
    wrong = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _under(name, FOUNDATION)
        for target in sorted(targets)
        if _under(target, UPPER)
    ]
    assert wrong == []


def test_the_sender_knows_no_zalo():
    modules = _modules("bot")
    for name in ("bot.outbound", "bot.sending"):
        zalo = [t for t in _imports(name, modules[name]) if "zalo" in t.lower()]
        assert zalo == [], name


def test_the_simulator_stands_apart():
    for name, path in _modules("bot").items():
        uses = [t for t in _imports(name, path) if t.split(".")[0] == "zalosim"]
        assert not uses or name == "bot.cli", f"{name} imports {uses}"
    for name, path in _modules("zalosim").items():
        uses = [t for t in _imports(name, path) if t.split(".")[0] == "bot"]
        assert uses == [], f"{name} imports {uses}"
