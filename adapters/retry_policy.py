"""Retry policies as frozen data (STYLE habit 5): attempts, first delay, backoff factor, cap."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, the first included
    initial_s: float = 0.25
    multiplier: float = 2.0
    max_s: float = 4.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return min(self.max_s, self.initial_s * self.multiplier ** (attempt - 1))


NO_RETRY = RetryPolicy(attempts=1)
