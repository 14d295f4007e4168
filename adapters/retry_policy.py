"""The one retry policy type (STYLE habit 5: policies as frozen data): attempts, first delay,
backoff factor, cap. The KIS client's reads (``adapters.kis.config``) and the Gemini planner's
transport calls (``adapters.gemini.planner``) both use it; each keeps its own defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, the first included
    initial_s: float = 0.25
    multiplier: float = 2.0
    max_s: float = 4.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"a retry policy needs at least one attempt, not {self.attempts}")
        if self.initial_s < 0 or self.max_s < 0:
            raise ValueError("retry delays cannot be negative")
        if self.multiplier < 1:
            raise ValueError(f"the backoff factor must be at least 1, not {self.multiplier}")

    def delay(self, attempt: int, hint_s: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based); a server's hint (a 429's
        retry delay) wins when longer, always within the cap."""
        base = self.initial_s * self.multiplier ** (attempt - 1)
        if hint_s is not None:
            base = max(base, hint_s)
        return min(self.max_s, base)


NO_RETRY = RetryPolicy(attempts=1)
