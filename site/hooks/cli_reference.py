"""mkdocs hook: fill the command-line page from the argparse parsers themselves, so
the reference never drifts from the code."""

from __future__ import annotations

import argparse

MARKER = "<!-- starlux-cli-reference -->"


def _help(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=88)
    return parser.format_help()


def _reference() -> str:
    from starlux.cli import build_parser

    top = build_parser()
    parts = ["## starlux", "", "```text", _help(top).rstrip(), "```", ""]
    for action in top._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                parts += [f"## starlux {name}", "", "```text", _help(sub).rstrip(),
                          "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001
    if MARKER in markdown:
        return markdown.replace(MARKER, _reference())
    return markdown
