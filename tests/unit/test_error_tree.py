"""The error hierarchy: one drawing that names every class, retryability as an attribute, and the
run guards (LeaseHeld, SafetyStop) outside AdapterError with their exit codes kept."""

from __future__ import annotations

import importlib
import pkgutil

import adapters
import statemachine
from statemachine import errors as e


def _project_errors() -> set[type[BaseException]]:
    for pkg in (statemachine, adapters):
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if ".kis_sim" in mod.name or mod.name.endswith("__main__"):
                continue
            importlib.import_module(mod.name)
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [e.RebalanceError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return {c for c in found if c.__module__.startswith(("statemachine", "adapters"))}


def test_the_one_drawing_names_every_error_class() -> None:
    doc = e.__doc__ or ""
    missing = sorted(c.__name__ for c in _project_errors() if c.__name__ not in doc)
    assert missing == []


def test_retryable_is_an_attribute_true_only_under_retryable_error() -> None:
    for cls in _project_errors():
        assert cls.retryable is issubclass(cls, e.RetryableError), cls


def test_run_guards_are_not_adapter_errors_and_keep_their_exit_codes() -> None:
    for cls, code in ((e.LeaseHeld, 75), (e.SafetyStop, 7)):
        assert issubclass(cls, e.RunGuard) and not issubclass(cls, e.AdapterError)
        assert cls("x").exit_code == code
