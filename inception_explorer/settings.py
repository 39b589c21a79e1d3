"""Every ``INCEPTION_EXPLORER_*`` environment variable, read in this one place.

``settings()`` reads the environment each time it is called (a few dictionary look-ups), so a test or a worker
that changes a variable sees the change; every reader in the package goes through it, and nothing else reads
``os.environ`` for these names. A value that does not parse falls back to the default, as documented per field.

Imports nothing of the package: every layer may use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PREFIX = "INCEPTION_EXPLORER_"

HOME = PREFIX + "HOME"
DATA_ROOT = PREFIX + "DATA_ROOT"
MAX_PARAMS = PREFIX + "MAX_PARAMS"
MAX_ACTIVATIONS = PREFIX + "MAX_ACTIVATIONS"
PROBES_PER_DEVICE = PREFIX + "PROBES_PER_DEVICE"
MAX_WAITING_PER_WORKSPACE = PREFIX + "MAX_WAITING_PER_WORKSPACE"
RAY_ADDRESS = PREFIX + "RAY_ADDRESS"
RAY_MAX_RUNNING = PREFIX + "RAY_MAX_RUNNING"
MAX_BLOCKS = PREFIX + "MAX_BLOCKS"
MAX_WAITING = PREFIX + "MAX_WAITING"
PROBE_MAX_STEPS = PREFIX + "PROBE_MAX_STEPS"
PROBE_MAX_SECONDS = PREFIX + "PROBE_MAX_SECONDS"
PROBE_MEMORY_BYTES = PREFIX + "PROBE_MEMORY_BYTES"
MAX_VARIANTS_PER_WORKSPACE = PREFIX + "MAX_VARIANTS_PER_WORKSPACE"
MAX_PUBLISHED_PER_WORKSPACE = PREFIX + "MAX_PUBLISHED_PER_WORKSPACE"
INSTRUCTOR_KEY = PREFIX + "INSTRUCTOR_KEY"
MAX_ROOMS = PREFIX + "MAX_ROOMS"
MAX_HANDINS_PER_ROOM = PREFIX + "MAX_HANDINS_PER_ROOM"
MAX_WEIGHTS_BYTES = PREFIX + "MAX_WEIGHTS_BYTES"

#: Every variable this package reads, with its default as text (the README's table is made from the same facts).
VARIABLES: dict[str, str] = {
    HOME: ".inception_explorer",
    DATA_ROOT: "data",
    MAX_PARAMS: "1000000000",
    MAX_ACTIVATIONS: "1000000000",
    PROBES_PER_DEVICE: "1",
    MAX_WAITING_PER_WORKSPACE: "10",
    RAY_ADDRESS: "",
    RAY_MAX_RUNNING: "4",
    MAX_BLOCKS: "256",
    MAX_WAITING: "200",
    PROBE_MAX_STEPS: "20000",
    PROBE_MAX_SECONDS: "3600",
    PROBE_MEMORY_BYTES: "0",
    MAX_VARIANTS_PER_WORKSPACE: "200",
    MAX_PUBLISHED_PER_WORKSPACE: "50",
    INSTRUCTOR_KEY: "",
    MAX_ROOMS: "100",
    MAX_HANDINS_PER_ROOM: "2000",
    MAX_WEIGHTS_BYTES: "150000000",
}


@dataclass(frozen=True)
class Settings:
    #: The folder of the store (``store.sqlite``) and the probes' logs.
    home: Path
    #: The one folder under which probes may read a user's images.
    data_root: Path
    #: A budget that refuses a giant-but-valid network before any tensor is allocated: 1e9 parameters is 4 GB of
    #: fp32 weights (the papers' largest network has 27 M) ...
    max_params: int
    #: ... and 1e9 layer-output elements of one image, summed, is 4 GB (Inception-v3 at 299 has about 33 M).
    max_activations: int
    #: Probes that may run at once on one local device (the rest wait in order).
    probes_per_device: int
    #: Probes one workspace may have waiting or running at once (a room shares one queue).
    max_waiting_per_workspace: int
    #: The Ray cluster probes run on (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``), or None for local processes.
    ray_address: str | None
    #: How many probes the Ray cluster trains at once; set it to the cluster's GPUs.
    ray_max_running: int
    #: Blocks a network may have in all (the papers' largest has 22): a bound on what one spec may cost to count.
    max_blocks: int
    #: Probes waiting or running at once on the whole server, all workspaces together (new workspaces are free).
    max_waiting: int
    #: The most steps one probe may ask for ...
    probe_max_steps: int
    #: ... and the most seconds it may train before it is stopped (its metrics kept).
    probe_max_seconds: int
    #: The training memory a probe may need by its estimate; 0: what the device has (CUDA memory, or RAM).
    probe_memory_bytes: int
    #: Saved variants one workspace may keep ...
    max_variants_per_workspace: int
    #: ... and read-only copies it may publish.
    max_published_per_workspace: int
    #: The key that makes a visitor the instructor (rooms, publishing, hand-ins); empty: no instructor here.
    instructor_key: str
    #: Rooms one server keeps ...
    max_rooms: int
    #: ... and hand-ins one room takes (a class of 40, each handing in an exercise set several times).
    max_handins_per_room: int
    #: The largest weights file (safetensors) the Build page takes: Inception-v3's 27 M fp32 parameters are 109 MB.
    max_weights_bytes: int


def _int(name: str, minimum: int = 1) -> int:
    default = int(VARIABLES[name])
    try:
        return max(minimum, int(float(os.environ.get(name, default))))
    except ValueError:
        return default


def settings() -> Settings:
    """The settings as the environment gives them now."""
    env = os.environ
    return Settings(
        home=Path(env.get(HOME) or VARIABLES[HOME]),
        data_root=Path(env.get(DATA_ROOT) or VARIABLES[DATA_ROOT]).resolve(),
        max_params=_int(MAX_PARAMS),
        max_activations=_int(MAX_ACTIVATIONS),
        probes_per_device=_int(PROBES_PER_DEVICE),
        max_waiting_per_workspace=_int(MAX_WAITING_PER_WORKSPACE),
        ray_address=env.get(RAY_ADDRESS, "").strip() or None,
        ray_max_running=_int(RAY_MAX_RUNNING),
        max_blocks=_int(MAX_BLOCKS),
        max_waiting=_int(MAX_WAITING),
        probe_max_steps=_int(PROBE_MAX_STEPS),
        probe_max_seconds=_int(PROBE_MAX_SECONDS),
        probe_memory_bytes=_int(PROBE_MEMORY_BYTES, minimum=0),
        max_variants_per_workspace=_int(MAX_VARIANTS_PER_WORKSPACE),
        max_published_per_workspace=_int(MAX_PUBLISHED_PER_WORKSPACE),
        instructor_key=env.get(INSTRUCTOR_KEY, "").strip(),
        max_rooms=_int(MAX_ROOMS),
        max_handins_per_room=_int(MAX_HANDINS_PER_ROOM),
        max_weights_bytes=_int(MAX_WEIGHTS_BYTES),
    )
