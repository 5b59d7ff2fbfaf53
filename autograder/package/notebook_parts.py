"""The notebook questions shared by ``grade package otter`` and ``grade package nbgrader``.

One source of truth for what the notebook questions' solution and test cells hold and what each
is worth. Which functions become questions each part declares, in its part.toml
(``notebook_questions``, with why the others are left out: they need the sandbox's proxy, speed
against the reference, or data); the questions follow the parts' order. Each question's test
cases are built by its function's entry in ``CASES`` below.

Solutions are read from ``reference/`` with ``inspect.getsource``: the stub's signature and
docstring, then the reference's body, with the private helpers it calls nested inside it so
that each question is one self-contained cell. Hidden tests take their expected values from the
reference, computed when the notebook is packaged; public tests hold literal textbook values.

Points: a question is worth what its function is worth in ``grade run``. Each ``grade run`` test
belongs to the stub functions its title names (word match); a test whose named functions are all
questions here is *covered*, and its points (the test's points, scaled to the part's points) are split
equally among the functions it names. Within a question, the points are split equally among its
test cases. So a function that fails every check loses the same fraction of the covered points
in ``grade run``, otter and nbgrader, provided no test naming it also names a function that passes
(the precise statement and its check: tests/package/test_agreement.py).
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import textwrap
from collections.abc import Callable
from types import ModuleType

import numpy as np

from autograder.config import GradingConfig, load_config
from autograder.package import PackageError
from autograder.run import collect_suite, expected_functions


def declared_questions(config: GradingConfig) -> tuple:
    """(part, stub module, function) of every question the parts declare, in the order the
    notebook asks them (the parts' order, then each declaration's)."""
    questions = []
    for part in config.parts.values():
        for name in part.notebook_questions:
            modules = [module for module, functions in part.contract if name in functions]
            if not modules or name not in CASES:
                raise PackageError(f"part {part.name}: notebook question {name} must be a function of its "
                                   "contract with test cases in autograder/package/notebook_parts.py (CASES)")
            questions.append((part.name, modules[0], name))
    return tuple(questions)

# Array answers must match the reference to round-off, as in grade run (checks.TOL).
RTOL, ATOL = 1e-7, 1e-9


@dataclasses.dataclass(frozen=True)
class TestCase:
    code: str  # plain Python statements; a failing check raises (no output expected)
    hidden: bool


@dataclasses.dataclass(frozen=True)
class Question:
    name: str
    part: str
    module: str
    prompt: str  # Markdown
    header: str  # the stub's def line and docstring
    helpers: str  # the reference's private helpers, nested (indented) inside the function
    body: str  # the reference's body, indented
    tests: tuple
    points: float

    def solution_cell(self, begin: str, end: str) -> str:
        """The answer cell, with the solution between the tool's ``begin``/``end`` markers."""
        inner = "\n".join(part for part in (self.helpers, self.body) if part)
        return f"{self.header}\n    {begin}\n{inner}\n    {end}\n"

    @property
    def case_points(self) -> list:
        return [self.points / len(self.tests)] * len(self.tests)


# --- the questions ---------------------------------------------------------------------------

def build_questions(config: GradingConfig) -> list:
    """Every question, with its solution from reference/ and its points from the suites."""
    points = question_points(config)
    questions = []
    for part, module, name in QUESTIONS:
        stub = importlib.import_module(f"assignments.{module}")
        ref = importlib.import_module(f"reference.{module}")
        header, helpers, body = split_solution(ref, stub, name)
        summary = inspect.getdoc(getattr(stub, name)).splitlines()[0]
        prompt = (f"### `{name}` ({part})\n\n{summary}\n\nComplete `{name}` below; its docstring "
                  f"is the specification (the same as in `{module}.py` of the handout).")
        questions.append(Question(name, part, module, prompt, header, helpers, body,
                                  tuple(CASES[name](ref)), points[name]))
    return questions


INTRO = ("# CNN assignment: notebook questions\n\nEach question asks for one function of the "
         "handout; its docstring is the specification. Run the setup cell first.")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def questions_notebook(config: GradingConfig, question_cells: Callable[[Question], list],
                       before: tuple = (), setup_metadata: dict | None = None):
    """The notebook of every question: ``before`` (a tool's own header cells), the intro, the
    setup cell, then ``question_cells(question)`` for each question, in the tool's format."""
    import nbformat  # the notebooks extra; only the notebook packagers need it

    cells = [*before, nbformat.v4.new_markdown_cell(INTRO),
             nbformat.v4.new_code_cell(setup_code(), metadata=setup_metadata or {})]
    for question in build_questions(config):
        cells += question_cells(question)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = KERNELSPEC
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def setup_code() -> str:
    """The imports and module-level names the answer cells rely on (stubs' and reference's)."""
    lines: list = []
    for module in dict.fromkeys(module for _, module, _ in QUESTIONS):
        for prefix in ("assignments", "reference"):
            source = inspect.getsource(importlib.import_module(f"{prefix}.{module}"))
            for node in ast.parse(source).body:
                if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)):
                    statement = ast.get_source_segment(source, node)
                    if statement not in lines:
                        lines.append(statement)
    return "\n".join(lines) + "\n"


def split_solution(impl: ModuleType, stub: ModuleType, name: str) -> tuple:
    """(stub header, helpers of ``impl`` nested in the function, ``impl``'s body), as text.

    ``impl`` is the reference, or (in tests) any module of the same shape: a student's answers.
    """
    impl_fn, stub_fn = getattr(impl, name), getattr(stub, name)
    if str(inspect.signature(impl_fn)) != str(inspect.signature(stub_fn)):
        raise PackageError(f"{name}: the signature in {impl.__name__} differs from the stub's")
    header = _without_body(inspect.getsource(stub_fn))
    body = _body(inspect.getsource(impl_fn))
    helpers = [textwrap.indent(inspect.getsource(getattr(impl, h)).rstrip(), "    ")
               for h in _private_helpers(impl, name)]
    return header, "\n\n".join(helpers) + ("\n" if helpers else ""), body


def answer_code(impl: ModuleType, stub: ModuleType, name: str) -> str:
    """A filled-in answer cell: what a student who wrote ``impl`` would put in the notebook."""
    header, helpers, body = split_solution(impl, stub, name)
    return f"{header}\n{helpers}{body}\n"


def fill_answers(cells: list, answers: dict) -> None:
    """Replace each answer cell (the code cell defining a question's function) with its answer.

    Works on otter's and nbgrader's student notebooks alike: both keep the ``def`` line.
    """
    for name, code in answers.items():
        matches = [c for c in cells if c.cell_type == "code"
                   and re.search(rf"^def {re.escape(name)}\(", c.source, re.MULTILINE)]
        if len(matches) != 1:
            raise PackageError(f"expected one answer cell defining {name}, found {len(matches)}")
        matches[0].source = code


def _function_node(source: str) -> ast.FunctionDef:
    node = ast.parse(textwrap.dedent(source)).body[0]
    if not isinstance(node, ast.FunctionDef):
        raise PackageError(f"not a function:\n{source[:200]}")
    return node


def _docstring_end(node: ast.FunctionDef) -> int:
    first = node.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
    return first.end_lineno if is_doc else node.body[0].lineno - 1


def _without_body(source: str) -> str:
    lines = textwrap.dedent(source).splitlines()
    return "\n".join(lines[:_docstring_end(_function_node(source))])


def _body(source: str) -> str:
    lines = textwrap.dedent(source).splitlines()
    return "\n".join(lines[_docstring_end(_function_node(source)):]).rstrip()


def _private_helpers(module: ModuleType, name: str) -> list:
    """The module's private functions ``name`` calls, directly or not, in source order."""
    found: set = set()
    pending = [name]
    while pending:
        node = _function_node(inspect.getsource(getattr(module, pending.pop())))
        for used in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}:
            value = getattr(module, used, None)
            if not inspect.isfunction(value) or value.__module__ != module.__name__ or used == name:
                continue
            if not used.startswith("_"):
                raise PackageError(f"{name} in {module.__name__} calls the public function "
                                         f"{used}; a notebook question must stand alone")
            if used not in found:
                found.add(used)
                pending.append(used)
    return sorted(found, key=lambda h: inspect.getsourcelines(getattr(module, h))[1])


# --- points, from the suites ---------------------------------------------------------------

def functions_named(config: GradingConfig, part: str, title: str) -> frozenset:
    """The part's stub functions that a ``grade run`` test title names."""
    names = [n for functions in expected_functions(config.parts[part]).values() for n in functions]
    return frozenset(n for n in names if re.search(rf"\b{re.escape(n)}\b", title))


def is_covered(config: GradingConfig, part: str, title: str) -> bool:
    """Whether a ``grade run`` test counts towards the notebook questions (see the docstring)."""
    named = functions_named(config, part, title)
    return bool(named) and named <= COVERED


def question_points(config: GradingConfig) -> dict:
    """Each question's points: its share of the covered ``grade run`` tests' points."""
    points = dict.fromkeys(COVERED, 0.0)
    for part_name in dict.fromkeys(part for part, _, _ in QUESTIONS):
        part = config.parts[part_name]
        records = collect_suite(part_name)
        suite_points = sum(r.points or 0.0 for r in records)
        for record in records:
            if is_covered(config, part_name, record.name):
                named = functions_named(config, part_name, record.name)
                for name in named:
                    points[name] += part.points * (record.points or 0.0) / suite_points / len(named)
    unscored = sorted(name for name, value in points.items() if value <= 0)
    if unscored:
        raise PackageError(f"no grade run test is attributed to {unscored}: a test title must "
                                 "name the function (and only notebook functions)")
    return points


# --- test cases ------------------------------------------------------------------------------

def _render(value) -> str:
    """Python source for an argument or expected value (arrays as exact literals)."""
    if isinstance(value, np.ndarray):
        return f"np.array({value.tolist()!r}, dtype=np.{value.dtype.name})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_render(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_render(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _call(name: str, args: tuple) -> str:
    return f"{name}({', '.join(_render(a) for a in args)})"


def _int_check(expected) -> str:
    if isinstance(expected, tuple):
        return "isinstance(_got, tuple) and all(isinstance(v, int) for v in _got)"
    return "isinstance(_got, int)"


def value_case(fn: Callable, args: tuple, hidden: bool, expected=None) -> TestCase:
    """A shapes call: an exact int (or int tuple) answer, or ValueError where the reference raises.

    Public cases pass their literal ``expected``, which must agree with the reference; hidden
    ones take the reference's answer.
    """
    name = fn.__name__
    try:
        answer = fn(*args)
    except ValueError:
        if expected is not None:
            raise PackageError(f"{_call(name, args)}: the reference raises, "
                                     f"the literal says {expected!r}") from None
        return raises_case(name, args, hidden)
    if expected is not None and (answer != expected or type(answer) is not type(expected)):
        raise PackageError(f"{_call(name, args)}: the reference gives {answer!r}, "
                                 f"the literal says {expected!r}")
    label = _call(name, args)
    return TestCase(f"_got = {label}\n"
                    f"assert {_int_check(answer)} and _got == {answer!r}, {label + ' is wrong'!r}\n",
                    hidden)


def array_case(setup: str, expression: str, expected: np.ndarray, what: str, hidden: bool) -> TestCase:
    """``expression`` (after ``setup``) must be an array of ``expected``'s shape and dtype, close to it."""
    return TestCase(
        f"{setup}_got = {expression}\n"
        f"assert isinstance(_got, np.ndarray) and _got.dtype == np.{expected.dtype.name}, "
        f"{what + ' must be a ' + expected.dtype.name + ' array'!r}\n"
        f"np.testing.assert_allclose(_got, {_render(expected)}, rtol={RTOL}, atol={ATOL})\n", hidden)


def _literal(expected: np.ndarray, computed: np.ndarray, what: str) -> np.ndarray:
    """A public test's literal answer, which must agree with the reference's."""
    if expected.shape != computed.shape or not np.allclose(expected, computed, rtol=RTOL, atol=ATOL):
        raise PackageError(f"{what}: the literal answer disagrees with the reference")
    return expected


def raises_case(name: str, args: tuple, hidden: bool) -> TestCase:
    return TestCase(f"np.testing.assert_raises(ValueError, {name}, "
                    f"{', '.join(_render(a) for a in args)})\n", hidden)


def _inputs(shape: tuple, seed: int, dtype=np.float64) -> np.ndarray:
    """Seeded values rounded to 4 decimals: short literals that the notebook reads back exactly."""
    return np.round(np.random.default_rng(seed).standard_normal(shape), 4).astype(dtype)


def _conv_output_size_cases(ref: ModuleType) -> list:
    fn = ref.conv_output_size
    public = [value_case(fn, args, False, expected) for args, expected in [
        ((7, 3, 1, 0), 5), ((32, 5, 1, 2), 32), ((227, 11, 4, 0), 55)]]
    hidden = [value_case(fn, args, True) for args in [
        (28, 5, 1, 0), (13, 3, 2, 1), (225, 7, 2, 3), ((32, 16), 3, 1, 1), (12, (3, 5), 1, 0),
        (10, 3, 1, (1, 0)), (7, 3, 3, 0), (3, 5, 1, 0), (7, 3, 1.0, 0), (7, 0, 1, 0), (7, 3, 1, -1)]]
    return public + [raises_case("conv_output_size", (7, 3, 3, 0), False)] + hidden


def _pool_output_size_cases(ref: ModuleType) -> list:
    fn = ref.pool_output_size
    public = [value_case(fn, args, False, expected) for args, expected in [
        ((224, 2, 2), 112), ((55, 3, 2), 27)]]
    hidden = [value_case(fn, args, True) for args in [
        (32, 2, 2), ((8, 6), 2, 2), ((9, 7), (3, 1), (2, 3)), (7, 3, 2), (32, 3, 2), (4, 5, 1),
        (8, 2, True)]]
    return public + hidden


def _same_padding_cases(ref: ModuleType) -> list:
    fn = ref.same_padding
    public = [value_case(fn, (3,), False, 1), value_case(fn, (5,), False, 2)]
    hidden = [value_case(fn, (k,), True) for k in (1, 7, 11, 4, 0, -3, True, 3.0)]
    return public + hidden


def _conv_param_count_cases(ref: ModuleType) -> list:
    fn = ref.conv_param_count
    public = [value_case(fn, (3, 96, 11), False, 34944)]
    hidden = [value_case(fn, args, True) for args in [
        (3, 64, 3), (16, 32, (3, 5)), (8, 8, 1, False), (0, 3, 3), (3, 3, 3, 1), (3, 2.0, 3)]]
    return public + hidden


def _linear_param_count_cases(ref: ModuleType) -> list:
    fn = ref.linear_param_count
    public = [value_case(fn, (4096, 1000), False, 4097000)]
    hidden = [value_case(fn, args, True) for args in [
        (10, 5), (3, 7, False), (1, 1), (0, 1), (5, 5, "yes"), (5.0, 2)]]
    return public + hidden


def _relu_forward_cases(ref: ModuleType) -> list:
    x = np.array([[-1.0, 2.0, 0.0], [0.5, -3.0, 4.0]])
    expected = _literal(np.array([[0.0, 2.0, 0.0], [0.5, 0.0, 4.0]]), ref.relu_forward(x)[0], "relu_forward")
    cases = [array_case(f"_x = {_render(x)}\n", "relu_forward(_x)[0]", expected, "out", False)]
    for seed, shape, dtype in [(1, (2, 3, 4), np.float64), (2, (5,), np.float64),
                               (3, (2, 2, 3, 3), np.float32)]:
        x = _inputs(shape, seed, dtype)
        cases.append(array_case(f"_x = {_render(x)}\n", "relu_forward(_x)[0]", ref.relu_forward(x)[0],
                                "out", True))
    cases.append(raises_case("relu_forward", (np.arange(6).reshape(2, 3),), True))
    return cases


def _relu_backward_cases(ref: ModuleType) -> list:
    def case(x, dout, hidden, expected=None):
        # Through the forward pass, as in grade run: the cache is whatever relu_forward returns.
        computed = ref.relu_backward(dout, ref.relu_forward(x)[1])
        expected = computed if expected is None else _literal(expected, computed, "relu_backward")
        return array_case(f"_x = {_render(x)}\n_dout = {_render(dout)}\n",
                          "relu_backward(_dout, relu_forward(_x)[1])", expected, "dx", hidden)

    cases = [case(np.array([[-1.0, 2.0], [0.0, 3.0]]), np.array([[1.0, 2.0], [3.0, 4.0]]), False,
                  np.array([[0.0, 2.0], [0.0, 4.0]]))]
    for seed, shape, dtype in [(11, (3, 4, 5), np.float64), (12, (2, 3, 2, 2), np.float32)]:
        cases.append(case(_inputs(shape, seed, dtype), _inputs(shape, seed + 1, dtype), True))
    cases.append(case(np.linspace(-1.0, 1.0, 21).reshape(3, 7), _inputs((3, 7), 13), True))
    return cases


def _conv_forward_naive_cases(ref: ModuleType) -> list:
    def case(x, w, b, conv_param, hidden, expected=None):
        computed = ref.conv_forward_naive(x, w, b, conv_param)[0]
        expected = computed if expected is None else _literal(expected, computed, "conv_forward_naive")
        setup = f"_x = {_render(x)}\n_w = {_render(w)}\n_b = {_render(b)}\n"
        return array_case(setup, f"conv_forward_naive(_x, _w, _b, {conv_param!r})[0]",
                          expected, "out", hidden)

    ones_x, ones_w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
    cases = [
        # Every 2x2 window of ones sums to 4, plus the bias 1.
        case(ones_x, ones_w, np.array([1.0]), {"stride": 1, "pad": 0}, False, np.full((1, 1, 2, 2), 5.0)),
        # Padding 1: corner windows see one input pixel, edges two, the middle four.
        case(ones_x, ones_w, np.array([0.0]), {"stride": 1, "pad": 1}, False,
             np.array([[[[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0],
                         [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]]])),
    ]
    for seed, (x_shape, w_shape, stride, pad) in enumerate([
            ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1), ((2, 2, 8, 8), (3, 2, 2, 2), 3, 0),
            ((1, 3, 6, 9), (2, 3, 2, 3), 2, 1)], start=20):
        cases.append(case(_inputs(x_shape, seed), _inputs(w_shape, seed + 100),
                          _inputs(w_shape[:1], seed + 200), {"stride": stride, "pad": pad}, True))
    cases.append(raises_case("conv_forward_naive", (_inputs((1, 1, 5, 5), 30), _inputs((1, 1, 3, 3), 31),
                                                    np.zeros(1), {"stride": 3, "pad": 0}), True))
    return cases


CASES = {
    "conv_output_size": _conv_output_size_cases,
    "pool_output_size": _pool_output_size_cases,
    "same_padding": _same_padding_cases,
    "conv_param_count": _conv_param_count_cases,
    "linear_param_count": _linear_param_count_cases,
    "relu_forward": _relu_forward_cases,
    "relu_backward": _relu_backward_cases,
    "conv_forward_naive": _conv_forward_naive_cases,
}

QUESTIONS = declared_questions(load_config())
COVERED = frozenset(name for _, _, name in QUESTIONS)
