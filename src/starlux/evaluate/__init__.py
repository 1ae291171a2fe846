"""Evaluation: metrics tables, validation plots, cross-validation and reports."""

from .metrics import format_metrics, label_metrics

__all__ = ["label_metrics", "format_metrics"]
