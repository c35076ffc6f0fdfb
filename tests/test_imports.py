"""The package's shape: imports point one way (no module imports, even inside a
function or for type checking only, a module that imports it back), and
kernels take few arguments."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "fastwmf"


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(module, is_package, node):
    """The package modules an import statement names (most specific first)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    prefix = node.module if node.level == 0 else ".".join(
        part for part in (base, node.module) if part)
    return [f"{prefix}.{alias.name}" for alias in node.names] + [prefix]


def import_graph():
    """``{module: {modules it imports}}`` over every import statement in the package."""
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            candidates = _resolve(name, path.name == "__init__.py", node)
            if isinstance(node, ast.Import):
                targets = [c for c in candidates if c in modules]
            else:  # "from a.b import c": the submodule a.b.c where there is one, else a.b
                named = [c for c in candidates[:-1] if c in modules]
                targets = named or ([candidates[-1]] if candidates[-1] in modules else [])
            graph[name].update(t for t in targets if t != name)
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_type_only_imports():
    graph = import_graph()
    assert "fastwmf.kernels.als" in graph["fastwmf.models._problem"]
    assert "fastwmf.io" in graph["fastwmf.models.base"]  # save/load
    assert "fastwmf._typing" in graph["fastwmf.weights"]  # under TYPE_CHECKING


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: README's layers, top (entry points) to bottom (leaves): a module may import
#: its own layer and those below it.
LAYERS = (
    {"__init__", "__main__", "cli", "precompile", "distributed", "evaluation",
     "tuning"},
    {"model_selection"},
    {"models"},
    {"io", "weights", "datasets", "metrics"},
    {"kernels"},
    {"_validation", "_threading", "_frames", "_config", "_hardware", "_typing", "_cache",
     "_alignment", "_download"},
)


def _layer(module):
    parts = module.split(".")
    room = parts[1] if len(parts) > 1 else "__init__"
    for depth, rooms in enumerate(LAYERS):
        if room in rooms:
            return depth
    raise AssertionError(f"{module} is in no layer of README's architecture")


def test_imports_point_down_the_layers():
    upward = [(a, b) for a, targets in import_graph().items() for b in targets
              if _layer(b) < _layer(a)]
    assert upward == []


#: Most arguments a function under ``kernels/`` may take (issue 21's narrow
#: contracts: group arrays and scalars into records instead).
MAX_KERNEL_ARGUMENTS = 12


def _argument_counts(folder):
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                args = node.args
                count = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
                yield f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}", count


def test_kernels_take_at_most_a_dozen_arguments():
    counts = dict(_argument_counts(PACKAGE / "kernels"))
    assert counts, "no kernel functions found"
    wide = {name: n for name, n in counts.items() if n > MAX_KERNEL_ARGUMENTS}
    assert not wide, f"kernels with more than {MAX_KERNEL_ARGUMENTS} arguments: {wide}"
