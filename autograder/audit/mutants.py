"""Mutants of a reference file: a small ``ast`` transformer's generic mutations, and the named
misconceptions, each a copy of the file's source with one change.

A generic mutation replaces the source text of exactly one node (so the rest of the file, its
comments included, is untouched and the diff shows one line). Docstrings, error messages and
``raise`` statements are left alone: mutating them only proves that messages are not graded.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
from pathlib import Path
from typing import Iterator

from autograder.audit.misconceptions import MISCONCEPTIONS, Misconception

# Each operator is swapped for the one a slip of the hand gives.
BINARY_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
COMPARE_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                 ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One changed copy of a reference file. ``id`` hashes the file name and the mutated
    source, so it stays the same as long as the reference file does."""

    part: str
    file: str
    operator: str  # "binary-op", "compare", ..., or "misconception"
    line: int
    description: str
    original: str
    source: str
    misconception: Misconception | None = None

    @property
    def id(self) -> str:
        digest = hashlib.sha256(f"{self.file}\0{self.source}".encode()).hexdigest()[:10]
        return f"{Path(self.file).stem}-{digest}"

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.original.splitlines(keepends=True), self.source.splitlines(keepends=True),
            f"reference/{self.file}", f"mutant/{self.file}", n=1))


def mutants_of(part: str, file: str, source: str) -> list:
    """Every generic mutant and every named misconception of ``source`` (the reference's
    ``file``), without duplicates, in a fixed order."""
    found = {}
    for operator, line, description, mutated in _generic(source):
        mutant = Mutant(part, file, operator, line, description, source, mutated)
        found.setdefault(mutant.id, mutant)
    for misconception in MISCONCEPTIONS:
        if misconception.file == file:
            line = source[:source.index(misconception.old)].count("\n") + 1
            mutant = Mutant(part, file, "misconception", line, misconception.name, source,
                            misconception.apply(source), misconception)
            found[mutant.id] = mutant  # the name wins over a generic mutant of the same source
    return list(found.values())


def _generic(source: str) -> Iterator[tuple]:
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    skipped = _untouchable(tree)
    for node in ast.walk(tree):
        if id(node) in skipped or not hasattr(node, "lineno") or node.lineno != node.end_lineno:
            continue
        for operator, replacement in _mutations(node):
            text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
            line = lines[node.lineno - 1]
            new_line = line[:node.col_offset] + text + line[node.end_col_offset:]
            mutated = "".join(lines[:node.lineno - 1] + [new_line] + lines[node.lineno:])
            yield operator, node.lineno, f"line {node.lineno}: {line.strip()} -> {new_line.strip()}", mutated


def _untouchable(tree: ast.AST) -> set:
    """Nodes inside docstrings, raise statements, f-strings, annotations and imports."""
    skipped = set()
    for node in ast.walk(tree):
        roots = []
        if isinstance(node, (ast.Raise, ast.JoinedStr, ast.Import, ast.ImportFrom)):
            roots.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            roots += [a.annotation for a in node.args.args + node.args.kwonlyargs if a.annotation]
            roots += [node.returns] if node.returns else []
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            roots.append(node)  # a docstring
        for root in roots:
            skipped.update(id(n) for n in ast.walk(root))
    return skipped


def _mutations(node: ast.AST) -> Iterator[tuple]:
    """(operator name, replacement node or text) for each mutation of ``node`` alone."""
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY_SWAPS:
        yield "binary-op", ast.BinOp(node.left, BINARY_SWAPS[type(node.op)](), node.right)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE_SWAPS:
        yield "compare", ast.Compare(node.left, [COMPARE_SWAPS[type(node.ops[0])]()], node.comparators)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        yield "constant", ast.Constant(node.value + 1)
        if node.value != 0:
            yield "constant", ast.Constant(node.value - 1)
    if isinstance(node, ast.Slice):
        for bound in ("lower", "upper"):
            value = getattr(node, bound)
            if value is not None:
                shifted = ast.BinOp(value, ast.Add(), ast.Constant(1))
                yield "slice-off-by-one", ast.Slice(**{**_fields(node), bound: shifted})
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and node.args:
        stop_index = 0 if len(node.args) == 1 else 1
        args = list(node.args)
        args[stop_index] = ast.BinOp(args[stop_index], ast.Sub(), ast.Constant(1))
        yield "range-off-by-one", ast.Call(node.func, args, node.keywords)
    if isinstance(node, ast.AugAssign):
        yield "augassign-to-assign", ast.Assign([node.target], node.value, lineno=node.lineno)
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) and not _defines_names(node):
        yield "delete-statement", "pass"


def _fields(node: ast.AST) -> dict:
    return {name: getattr(node, name) for name in node._fields}


def _defines_names(node: ast.AST) -> bool:
    """Deleting an assignment to a plain name only raises NameError later: not a plausible bug."""
    return isinstance(node, ast.Assign) and any(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets)
