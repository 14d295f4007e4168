"""The in-memory store: the one :class:`statemachine.ports.UnitOfWork` without a database, for tests
and benchmarks. It keeps the SQL store's semantics point by point (``tests/contract`` runs the same
tests against both)."""

from adapters.memory.store import MemoryStore, MemoryUnitOfWork
from adapters.memory.tables import IntegrityError

__all__ = ["IntegrityError", "MemoryStore", "MemoryUnitOfWork"]
