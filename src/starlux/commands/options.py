"""Option types shared by every sub-command: one list syntax and checked numbers.

Every list option takes space-separated values, and commas inside a value split it
too, so ``--from flux,label`` and ``--from flux label`` mean the same. Numbers are
checked by argparse itself, so a bad value stops the command before any work.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ListAction", "AppendListAction", "split_values", "positive_int",
           "at_least", "nonnegative_float", "latent_size", "add_list_option"]


def split_values(values: str | Sequence[str]) -> list[str]:
    """``["flux,label", "x"]`` -> ``["flux", "label", "x"]`` (empty items dropped)."""
    if isinstance(values, str):
        values = [values]
    return [item.strip() for v in values for item in str(v).split(",") if item.strip()]


def _checked(action: argparse.Action, values: str | Sequence[str]) -> list[Any]:
    """Split, convert with the action's ``item_type``, check choices and repeats."""
    items = split_values(values)
    if not items:
        raise argparse.ArgumentError(action, "expected at least one value")
    convert: Callable[[str], Any] = getattr(action, "item_type", None) or str
    try:
        out = [convert(v) for v in items]
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise argparse.ArgumentError(action, str(exc)) from None
    choices = getattr(action, "item_choices", None)
    if choices is not None:
        bad = [v for v in out if v not in choices]
        if bad:
            raise argparse.ArgumentError(
                action, f"invalid choice {bad[0]!r} (choose from {', '.join(map(str, choices))})")
    if getattr(action, "unique", False):
        seen: set[Any] = set()
        for v in out:
            if v in seen:
                raise argparse.ArgumentError(action, f"{v!r} is given twice")
            seen.add(v)
    return out


class ListAction(argparse.Action):
    """``nargs="+"`` list whose values are also split at commas."""

    def __init__(self, *args: Any, item_type: Callable[[str], Any] | None = None,
                 item_choices: Sequence[Any] | None = None, unique: bool = False,
                 **kwargs: Any):
        kwargs.setdefault("nargs", "+")
        super().__init__(*args, **kwargs)
        self.item_type, self.item_choices, self.unique = item_type, item_choices, unique

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, _checked(self, values))


class AppendListAction(ListAction):
    """Like :class:`ListAction`, but each use of the option appends one more list
    (``--labels A B --labels C`` -> ``[["A", "B"], ["C"]]``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        current = getattr(namespace, self.dest, None)
        lists = [] if current is None or current is self.default else list(current)
        lists.append(_checked(self, values))
        setattr(namespace, self.dest, lists)


def add_list_option(parser: argparse.ArgumentParser, *flags: str, append: bool = False,
                    **kwargs: Any) -> argparse.Action:
    """Add a list option with the shared syntax (see the module docstring)."""
    return parser.add_argument(*flags, action=AppendListAction if append else ListAction,
                               **kwargs)


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


positive_int = at_least(1)
"""An argparse type: an integer >= 1."""

nonnegative_int = at_least(0)
"""An argparse type: an integer >= 0."""


def nonnegative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def latent_size(text: str) -> int | str:
    """An argparse type: a latent size in the one grammar of
    :func:`starlux.spec.parse_latent_size` (a positive integer, a multiple of the label
    count like ``4x``, or ``1x+1``; whether it is large enough is checked against the
    data)."""
    from ..spec import parse_latent_size

    try:
        return parse_latent_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or a multiple of the label "
                                         f"count like '4x' (or '1x+1'), got {text!r}") from None
