"""Token usage and estimated price of one Gemini attempt, from the reply's ``usageMetadata`` and the
price table (:attr:`adapters.config.GeminiSettings.prices`, USD per 1M tokens by model id).

Gives the dict stored as ``plan.meta["cost"]`` (or ``last_meta["cost"]`` for a failed attempt):
``model``, ``prompt_tokens``, ``output_tokens`` (candidates + thoughts: Google bills thinking as
output), ``total_tokens``, ``usd_micros`` (the estimate in integer millionths of a US dollar, so
sums are exact; ``None`` when the model has no price), ``priced`` and the prices used. An attempt
whose calls all failed in transport returned no usage: zero tokens, zero cost (a call abandoned
at its deadline may still be billed by Google; its tokens are unknown here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.config import ModelPrice


def attempt_cost(usage: Mapping[str, int] | None, model: str, prices: Mapping[str, ModelPrice]) -> dict[str, Any]:
    u = usage or {}
    prompt = int(u.get("prompt_token_count") or 0)
    output = int(u.get("candidates_token_count") or 0) + int(u.get("thoughts_token_count") or 0)
    total = int(u.get("total_token_count") or (prompt + output))
    price = prices.get(model)
    # USD per 1M tokens x tokens = millionths of a USD
    micros = None if price is None else round(prompt * price.input_usd_per_mtok + output * price.output_usd_per_mtok)
    return {"model": model, "prompt_tokens": prompt, "output_tokens": output, "total_tokens": total,
            "usd_micros": micros, "priced": price is not None, "currency": "USD",
            "price_per_mtok": None if price is None else price.model_dump()}


__all__ = ["attempt_cost"]
