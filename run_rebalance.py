#!/usr/bin/env python3
"""Command line of the rebalancing engine. Run ``python run_rebalance.py --help``."""

from adapters.cli.app import entry

if __name__ == "__main__":
    entry()
