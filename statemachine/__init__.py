"""The rebalancing domain and engine: pure Python, no I/O.

Everything outside the process (database, broker, LLM, clock) arrives through the ports in
:mod:`statemachine.ports`; nothing here imports :mod:`adapters`.
"""

ENGINE_VERSION = "0.1.0"
# Bump when the stored shape of checkpoints (step outputs, plans, intents) changes incompatibly.
CHECKPOINT_FORMAT = 1
