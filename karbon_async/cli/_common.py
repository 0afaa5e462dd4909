"""What every command shares: exit codes, the parser that exits 2 on bad input, the argument
types, and the rich console when rich is installed."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import IO, Any, NoReturn

EXIT_FAILED = 1
EXIT_USAGE = 2


def _rich_console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(stderr=True)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or closed
        return False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _number(kind: Callable[[str], Any], low: float, what: str) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float), finite and at least ``low``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value < math.inf:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_positive_int = _number(int, 1, "a positive whole number")
_count = _number(int, 0, "a whole number, 0 or more")
_seconds = _number(float, 0.0, "a number of seconds, 0 or more")
_port = _number(int, 0, "a port number")


def _positive_seconds(text: str) -> float:
    value: float = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _tcp_port(text: str) -> int:
    value: int = _port(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value
