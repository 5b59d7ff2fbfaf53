"""A Jupyter notebook handed in instead of .py files, turned into those files without running it.

The notebook is only parsed (``json``, then ``ast`` per code cell), never executed: its
top-level code (demos, plots, training runs, a cell that patches numpy) does not run anywhere.
What is taken out, for each file the caller names with the functions it must define and the
submission lacks (a .py file handed in wins over the notebook):

* those functions (the last definition of each, as a top-to-bottom run would leave them);
* every top-level definition they use, followed name by name: helper functions and classes,
  imports, and constants (``NAME = ...``: a stub's ``Size = int | tuple[int, int]`` is one), each
  the last statement in the notebook that binds the name;
* ``from __future__`` imports.

Each written file is then graded like a handed-in .py file, in the sandbox, so it runs there,
with whatever its statements do. Everything else is left out with a note: other top-level
statements (``np.allclose = ...``, ``print(...)``, ``if ...:``), star imports (the names they
bind cannot be known without running them), imports of the handout's own modules (``from layers
import ...``: those modules are what is being written), and cells that do not parse. IPython
magics and shell lines (``%matplotlib``, ``!pip``) are blanked before parsing; cell magics
(``%%time``) make their cell unreadable Python, so it is skipped with a note.

The engine knows nothing of the assignment: the caller passes ``{file name: [function names]}``,
read from the handout's stubs (``stub_functions``).
"""
from __future__ import annotations

import ast
import dataclasses
import json
import symtable
from pathlib import Path


# The notebook is parsed in the grader's own process, which must stay small (Gradescope: 768 MB);
# parsed JSON takes several times its size in memory. Code alone is far smaller than this.
MAX_NOTEBOOK_BYTES = 50 * 2**20


class NotebookError(Exception):
    """The notebook cannot be read at all; the message says why, for the student."""


@dataclasses.dataclass(frozen=True)
class _Statement:
    cell: int  # 1-based, counting every cell as Jupyter shows them
    position: int  # order in the notebook
    node: ast.stmt
    text: str  # the statement's own source
    uses: frozenset  # the global names it reads (a function's own locals are not among them)


def stub_functions(stub_dir: Path, files: list) -> dict:
    """file name -> the public functions its stub in ``stub_dir`` defines: what a notebook must
    define for that file (and what a missing file's message names)."""
    found = {}
    for name in files:
        stub = Path(stub_dir) / name
        if name.endswith(".py") and stub.is_file():
            tree = ast.parse(stub.read_text())
            found[name] = [n.name for n in tree.body
                           if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    return found


def write_notebook_parts(folder: Path, functions_by_file: dict) -> list:
    """If ``folder`` holds a notebook, write the files of ``functions_by_file`` that it lacks from
    the notebook's definitions (a .py file handed in wins over the notebook); returns notes for
    the report."""
    functions_by_file = {name: functions for name, functions in functions_by_file.items()
                         if not (folder / name).is_file()}
    if not functions_by_file:
        return []
    notebooks = sorted(folder.rglob("*.ipynb"), key=lambda p: (len(p.relative_to(folder).parts), str(p)))
    if not notebooks:
        return []
    shallowest = [p for p in notebooks if len(p.parts) == len(notebooks[0].parts)]
    if len(shallowest) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in shallowest)
        return [f"Several notebooks ({names}): hand in one notebook, or the .py files. None was graded."]
    notebook = notebooks[0]
    name = notebook.relative_to(folder)
    try:
        statements, notes = _statements(notebook)
    except NotebookError as exc:
        return [f"{name} was not graded: {exc}"]
    own = {Path(file_name).stem for file_name in functions_by_file}
    files = {file_name: _closure(statements, set(functions), own)
             for file_name, functions in functions_by_file.items()}
    written = []
    for file_name, chosen in files.items():
        if chosen:
            (folder / file_name).write_text(_file_text(name, chosen))
            written.append(f"{file_name} ({_cells({s.cell for s in chosen})})")
    if not written:
        wanted = ", ".join(f for functions in functions_by_file.values() for f in functions)
        return notes + [f"{name} defines none of the functions to grade ({wanted})."]
    used = {s.position for chosen in files.values() for s in chosen}
    code = {s.cell for s in statements if s.position not in used and not _is_definition(s.node)}
    if code:
        notes.append(f"Top-level code in {_cells(code)} of {name} was not run or graded: only "
                     "definitions (functions, classes, imports, constants) are taken from a notebook.")
    return [f"Read the notebook {name} without running it: wrote {', '.join(written)} "
            "(cells counted from the top, markdown included)."] + notes


def _statements(notebook: Path) -> tuple:
    """Every top-level statement of every code cell that parses, and notes on the cells that do not."""
    size = notebook.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"it is {size / 2**20:.0f} MiB, more than the {MAX_NOTEBOOK_BYTES // 2**20} MiB "
                            "a notebook may be (its outputs, e.g. plots, are the bulk: clear them "
                            "with Edit > Clear Outputs of All Cells, save, and hand it in again)")
    try:
        document = json.loads(notebook.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise NotebookError(f"it is not a readable Jupyter notebook (invalid JSON: {exc})") from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("it is not a Jupyter notebook in the current format (no list of cells)")
    statements, notes, position = [], [], 0
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            notes.append(f"cell {number} of {notebook.name} has no readable source; skipped.")
            continue
        if source.lstrip().startswith("%%"):
            notes.append(f"cell {number} of {notebook.name} starts with a cell magic "
                         f"({source.split()[0]}); it was skipped: put definitions in plain cells.")
            continue
        source = _without_magics(source)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            notes.append(f"cell {number} of {notebook.name} is not valid Python (line {exc.lineno}: "
                         f"{exc.msg}); it was skipped.")
            continue
        except (ValueError, RecursionError, MemoryError) as exc:
            notes.append(f"cell {number} of {notebook.name} cannot be parsed ({type(exc).__name__}); "
                         "it was skipped.")
            continue
        for node in tree.body:
            text = _source_of(source, node)
            try:
                uses = _global_names(symtable.symtable(text, f"cell {number}", "exec"))
            except (SyntaxError, RecursionError, MemoryError):
                notes.append(f"a statement in cell {number} of {notebook.name} cannot be "
                             "analysed; it was skipped.")
                continue
            statements.append(_Statement(number, position, node, text, uses))
            position += 1
    return statements, notes


def _without_magics(source: str) -> str:
    """Blank the lines IPython reads as magics or shell commands, keeping line numbers."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))


def _global_names(table: symtable.SymbolTable) -> frozenset:
    """Names read at module level or as globals inside the statement's functions and classes:
    a local ``out`` or ``model`` must not pull in a top-level ``out = ...`` (a training run)."""
    names = {symbol.get_name() for symbol in table.get_symbols()
             if symbol.is_referenced() and (table.get_type() == "module" or symbol.is_global())}
    for child in table.get_children():
        names |= _global_names(child)
    return frozenset(names)


def _source_of(source: str, node: ast.stmt) -> str:
    """The statement's text: whole lines for a (decorated) definition, which always starts and
    ends its lines; the exact segment otherwise (``import numpy as np; np.x = 1`` is two)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        return "\n".join(source.split("\n")[first - 1:node.end_lineno])
    return ast.get_source_segment(source, node) or ast.unparse(node)


def _binds(node: ast.stmt) -> set:
    """Names a definition statement binds; empty for every other statement."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if any(alias.name == "*" for alias in node.names):
            return set()
        return {alias.asname or alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.Assign):
        names = [t for target in node.targets for t in ast.walk(target)]
        if all(isinstance(t, (ast.Name, ast.Tuple, ast.List, ast.Load, ast.Store)) for t in names):
            return {t.id for t in names if isinstance(t, ast.Name)}
    return set()


def _is_definition(node: ast.stmt) -> bool:
    """Bindings, future imports, and bare strings (docstrings): all but top-level code."""
    is_text = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
        and isinstance(node.value.value, str)
    return bool(_binds(node)) or _is_future(node) or is_text


def _is_import(node: ast.stmt) -> bool:
    return isinstance(node, (ast.Import, ast.ImportFrom))


def _is_future(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


def _imports_own_module(node: ast.stmt, own: set) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in own
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] in own for a in node.names)


def _closure(statements: list, roots: set, own: set) -> list:
    """The future imports, and the last binding statement of every name reachable from ``roots``
    through the global names each chosen statement reads; in notebook order."""
    last = {}
    for statement in statements:
        if not _imports_own_module(statement.node, own):
            for name in _binds(statement.node):
                last[name] = statement
    chosen, pending = {}, sorted(roots & last.keys())
    while pending:
        statement = last[pending.pop()]
        if statement.position in chosen:
            continue
        chosen[statement.position] = statement
        pending += sorted(statement.uses & last.keys())
    if chosen:
        chosen.update({s.position: s for s in statements if _is_future(s.node)})
    return [chosen[position] for position in sorted(chosen)]


def _file_text(notebook: Path, statements: list) -> str:
    """Future imports, then the other imports (a definition's annotations and defaults are
    evaluated when it is defined, and the import that binds a name last may stand in a later
    cell), then the rest in notebook order."""
    def rank(statement: _Statement) -> int:
        return 0 if _is_future(statement.node) else 1 if _is_import(statement.node) else 2

    ordered = sorted(statements, key=lambda s: (rank(s), s.position))
    lines = [s.text for s in ordered if rank(s) == 0]
    lines.append(f"# Written by the grader from {notebook} (not run): its definitions that the "
                 "graded functions use.")
    for statement in ordered:
        if rank(statement):
            lines += ["", f"# cell {statement.cell}", statement.text]
    return "\n".join(lines) + "\n"


def _cells(cells: set) -> str:
    return ("cell " if len(cells) == 1 else "cells ") + ", ".join(str(c) for c in sorted(cells))
