"""Exports to and integrations with other tools (optional extras): promtool, Prometheus,
TensorBoard, matplotlib and Hypothesis."""
