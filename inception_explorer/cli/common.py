"""What every command shares: the one-line usage error, and reading a network named on the command line."""

from __future__ import annotations

import re
from pathlib import Path

from ..spec import ModelSpec, validate
from ..spec.presets import get_preset, list_presets
from ..spec.validation import spec_text


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


def read_source(source: str, input_arg: str | None = None, classes: int | None = None) -> ModelSpec:
    """A preset name or a path to a spec JSON file (its size limit and encoding checked by ``spec.validation``,
    the entry for untrusted input), optionally at another input size / class count."""
    presets = [p.name for p in list_presets()]
    if source in presets:
        spec = get_preset(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source!r} is neither a preset ({', '.join(presets)}) nor a spec file")
        with path.open("rb") as f:
            spec = ModelSpec.from_json(spec_text(f))  # checked below, after any --input / --classes
    if input_arg is not None or classes is not None:
        size = None
        if input_arg is not None:
            channels, size = parse_input(input_arg)
            if channels != spec.in_channels:
                spec = ModelSpec.from_dict({**spec.to_dict(), "in_channels": channels})
        spec = spec.with_input(size, classes)
    return validate(spec)


def parse_input(text: str) -> tuple[int, tuple[int, int]]:
    """``3x299x299`` -> (3, (299, 299)); ``299`` -> (3, (299, 299))."""
    m = re.fullmatch(r"\s*(?:(\d+)\s*x\s*)?(\d+)(?:\s*x\s*(\d+))?\s*", text)
    if not m:
        raise UsageError(f"--input must look like 3x299x299 (channels x height x width), got {text!r}")
    c, h, w = m.groups()
    if w is None:  # "299" or "3x299": a square of the last number
        w = h
    return int(c) if c else 3, (int(h), int(w))
