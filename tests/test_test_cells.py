"""Do the lessons' test cells keep the parts of the test-cell contract that the source shows?

docs/authoring.md: under Validate a test cell runs in the learner's kernel, so it must not replace a
value the lesson's later cells use; and every misconception id a test names is described in the
lesson's variants file.
"""

from __future__ import annotations

import ast

import pytest
from conftest import lessons, source_notebook

# Ids that autograder.checks uses when a test does not name one.


def is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


class _Names(ast.NodeVisitor):
    """Names a cell binds at module level, and names it reads before binding them itself."""

    def __init__(self):
        self.bound, self.read = set(), set()

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id not in self.bound:
            self.read.add(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.bound.add(node.id)

    def _scope(self, node):  # a nested scope reads the cell's globals when it runs
        inner = _Names()
        inner.bound = set(self.bound)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inner.bound |= {arg.arg for arg in ast.walk(node.args) if isinstance(arg, ast.arg)}
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            loops = node.generators
            children = loops + [c for c in children if c not in loops]  # loops bind first
        for child in children:
            inner.visit(child)
        self.read |= inner.read

    def visit_FunctionDef(self, node):
        self._scope(node)
        self.bound.add(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = _scope
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _scope

    def visit_ClassDef(self, node):
        self._scope(node)
        self.bound.add(node.name)

    def visit_Import(self, node):  # the same module objects the lesson imports: harmless to rebind
        pass

    visit_ImportFrom = visit_Import

    def visit_Assign(self, node):  # the value is read before the targets are bound
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)


def names(source: str) -> _Names:
    found = _Names()
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    found.visit(ast.parse("\n".join(lines)))
    return found


@pytest.mark.parametrize("lesson", lessons())
def test_no_test_cell_replaces_a_value_the_lesson_reads_later(lesson):
    replaced_by = {}  # name -> grade_id of the test cell that bound it last
    for cell in source_notebook(lesson).cells:
        if cell.cell_type != "code":
            continue
        found = names(cell.source)
        if is_test(cell):
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            replaced_by.update((name, grade_id) for name in found.bound)
            continue
        clobbered = {name: replaced_by[name] for name in found.read if name in replaced_by}
        assert not clobbered, f"{lesson}: {cell.get('id')} reads what tests replaced: {clobbered}"
        for name in found.bound:
            replaced_by.pop(name, None)


def test_the_checker_sees_a_test_cell_that_replaces_a_lessons_value():
    assert "rows" in names("rows = [1]\nfor row in rows:\n    pass").bound
    assert "rows" in names("print(len(rows))").read
    assert "rows" not in names("rows = 1\nprint(rows)").read
    assert names("def f(row):\n    return CLASSES.index(row)").read == {"CLASSES"}
    assert names("[x * 2 for x in range(3)]").read == {"range"}
    assert "torch" not in names("import torch\nfrom torch import nn").bound
