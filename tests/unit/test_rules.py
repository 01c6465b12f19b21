"""The diagnosis' rules: one module per problem, and one declared order that is the single source of precedence."""
from __future__ import annotations

import ast
import pkgutil
import sys
from pathlib import Path

import pytest

from console.diagnosis import rules
from console.diagnosis.context import AnswersContext, Context, CrashContext
from console.diagnosis.vocabulary import TITLES

ORDERS = {"curves": (rules.CURVE_RULES, Context), "crash": (rules.CRASH_RULES, CrashContext),
          "answers": (rules.ANSWER_RULES, AnswersContext)}
ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_module_is_listed_once_with_a_problem_a_title_and_fixes():
    on_disk = {m.name for m in pkgutil.iter_modules(rules.__path__)}
    listed = [m.__name__.rsplit(".", 1)[1] for m in rules.MODULES]
    assert sorted(listed) == sorted(on_disk) and len(set(listed)) == len(listed)
    problems = [m.PROBLEM for m in rules.MODULES]
    assert len(set(problems)) == len(problems)
    for m in rules.MODULES:
        assert m.PROBLEM == m.__name__.rsplit(".", 1)[1]  # the module is named after its problem
        assert isinstance(m.TITLE, str) and m.TITLE and m.KIND in ("problem", "advisory", "crash", "answers")
        assert callable(m.fixes)
    assert rules.TITLES is TITLES and list(TITLES) == problems  # the titles are the modules', nothing else
    assert rules.PROBLEMS == tuple(m.PROBLEM for m in rules.MODULES if m.KIND == "problem")


@pytest.mark.parametrize("name", ORDERS)
def test_the_declared_order_names_only_known_problems_and_conditions(name):
    order, context = ORDERS[name]
    detectors = [rule.detect for rule in order]
    assert len(set(detectors)) == len(detectors), "a detector listed twice"
    for rule in order:
        assert rule.problem in TITLES, rule
        assert sys.modules[rule.detect.__module__] in rules.MODULES, rule  # in its problem's module
        assert rule.problem not in rule.unless, f"{rule}: its own problem always silences it"
        assert all(p in TITLES for p in rule.unless), rule
        assert all(isinstance(getattr(context, c, None), property) for c in rule.needs), rule


def test_every_problem_is_found_by_a_detector_or_shares_one():
    found = {rule.problem for order, _ in ORDERS.values() for rule in order}
    assert found == set(TITLES)


def test_diagnose_holds_no_precedence_of_its_own():
    """The declared order is the only place: diagnose, crash_findings and sample_findings run it, nothing more."""
    tree = ast.parse((ROOT / "console/diagnosis/diagnose.py").read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "seen" not in names
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & set(TITLES), "a problem named in diagnose.py: its precedence belongs in the rules' order"


def test_the_sample_records_import_nothing_from_the_diagnosis():
    tree = ast.parse((ROOT / "console/runs/samples.py").read_text(encoding="utf-8"))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not [m for m in modules if m.startswith("console.diagnosis")]
