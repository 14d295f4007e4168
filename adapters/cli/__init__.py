"""The command line (typer + rich). Entry point: ``run_rebalance.py``."""
