"""The one entry for untrusted input: a spec as a dict, JSON text, bytes or an uploaded file, with one size limit.

``load_spec(source)`` parses, checks the structure (located problems) and checks that the network can work at its
input size within the budget (``budget.validate``); anything else raises ``SpecError`` saying why, never another
exception. The CLI, the Build page's upload and the store's readers all come through here.

The number of blocks (and of their layers) is checked first, on the JSON data as parsed and before pydantic reads
it (``budget.check_size``): a spec of 8,192 blocks fits in the size limit, and pydantic alone takes half a second
over it; refused, it costs the JSON parse, about 10 ms.
"""

from __future__ import annotations

import json
from typing import IO, Any

from ..errors import SpecError
from .budget import check_size, validate
from .model import ModelSpec

#: The largest spec accepted, in bytes of JSON: the papers' largest network is about 20 kB.
MAX_SPEC_BYTES = 1_000_000


def spec_text(source: str | bytes | IO[bytes] | IO[str], limit: int = MAX_SPEC_BYTES) -> str:
    """The text of a spec from text, bytes or an open file, refused (``SpecError``) past ``limit`` bytes or when it
    is not UTF-8. Parsing is the caller's (``load_spec``, or ``ModelSpec.from_json`` to edit before checking)."""
    if hasattr(source, "read"):
        source = source.read(limit + 1)
    if not isinstance(source, (str, bytes)):
        raise SpecError(f"a spec is a JSON object, text or a file, got {type(source).__name__}")
    return _text(source, limit)


def _text(data: bytes | str, limit: int) -> str:
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > limit:
        raise SpecError(f"the file is {size:,} bytes; a spec is at most {limit:,} bytes")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("the file is not text (UTF-8 JSON); a spec is a .json file exported by this app") from None


def load_spec(
    source: ModelSpec | dict[str, Any] | str | bytes | IO[bytes] | IO[str], limit: int = MAX_SPEC_BYTES
) -> ModelSpec:
    """``source`` as a checked ``ModelSpec``: a spec (checked again), a dict, JSON text, bytes or an open file."""
    if isinstance(source, ModelSpec):
        return validate(source)
    if isinstance(source, dict):
        check_size(source)
        return validate(ModelSpec.from_dict(source))
    text = spec_text(source, limit)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SpecError(
            f"not a JSON spec: the text is not JSON ({exc}); a spec is a .json file exported by this app"
        ) from None
    check_size(data)
    return validate(ModelSpec.from_dict(data))
