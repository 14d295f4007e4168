"""Everything that talks to the outside: database, broker (simulated account, KIS), Gemini, HTTP."""
