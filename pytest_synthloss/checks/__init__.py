"""Checks on loss series: spike rules, assertions, alert scoring and failure messages."""
