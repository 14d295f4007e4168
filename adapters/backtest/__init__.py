"""Backtest adapters: CSV readers, the synthetic history generator, SVG chart and JSON output."""
