"""What probes train on: a built-in, seeded synthetic set, or a user's images under a configured data root.

Both give the same thing: ``batch(step, batch_size) -> (images, labels)``, deterministic in (seed, step), so that
every variant in a comparison sees exactly the same images in the same order, and ``heldout(n)``, a fixed set
scored once at the end.

``SyntheticShapes`` needs no download and works at any resolution. A class is a (shape, stripe orientation) pair:
disk, square, ring, triangle or cross, filled with vertical, horizontal or diagonal stripes; position, size, small
rotation, stripe frequency and phase, colours, a distracting background grating and pixel noise are random. To
tell classes apart a network has to combine a shape (spatial extent) with a local texture (orientation), which
is what separates better Inception variants from worse ones within a few hundred steps.
"""

from __future__ import annotations

import errno
import hashlib
import math
from pathlib import Path

import torch

from ..settings import settings
from .results import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_MEAN, _STD = 0.5, 0.25

SHAPES = ("disk", "square", "ring", "triangle", "cross")
# Grating angles in degrees (the direction the stripes vary along), the first two used before the diagonals.
ORIENTATIONS = {0.0: "vertical", 90.0: "horizontal", 45.0: "diagonal /", 135.0: "diagonal \\"}


def synthetic_classes(num_classes: int) -> list[tuple[str, float]]:
    """(shape, stripe orientation) of each class: every shape with 0 and 90 degrees first, then the diagonals."""
    combos = [(s, o) for o in ORIENTATIONS for s in SHAPES]
    if not 2 <= num_classes <= len(combos):
        raise DataError(f"the synthetic set has 2 to {len(combos)} classes, got {num_classes}")
    return combos[:num_classes]


def _generator(seed: int, split: int, index: int) -> torch.Generator:
    """A generator for one batch. torch's CPU generator (mt19937) keeps only 32 bits of its seed, so (seed, split,
    index) is hashed into 32 bits rather than packed into a wider integer whose high bits would be dropped."""
    digest = hashlib.blake2b(f"{seed}:{split}:{index}".encode(), digest_size=4).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little"))


class SyntheticShapes:
    """The built-in probe data set: ``num_classes`` classes of striped shapes at ``image_size`` pixels."""

    TRAIN, HELDOUT = 0, 1

    def __init__(self, num_classes: int = 10, image_size: int = 128, seed: int = 0, channels: int = 3):
        self.classes = synthetic_classes(num_classes)
        self.num_classes, self.image_size, self.seed, self.channels = num_classes, image_size, seed, channels
        self.class_names = [f"{shape}, {ORIENTATIONS[o]} stripes" for shape, o in self.classes]
        axis = torch.linspace(-1.0, 1.0, image_size)
        self._yy, self._xx = torch.meshgrid(axis, axis, indexing="ij")

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._make(_generator(self.seed, self.TRAIN, step), batch_size)

    def heldout(self, n: int, batch_size: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            self._make(_generator(self.seed, self.HELDOUT, i), min(batch_size, n - i * batch_size))
            for i in range(math.ceil(n / batch_size))
        ]

    def _make(self, g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, *shape, generator=g)

        labels = torch.randint(self.num_classes, (n,), generator=g)
        shape_id = torch.tensor([SHAPES.index(self.classes[k][0]) for k in labels.tolist()])
        orientation = torch.tensor([self.classes[k][1] for k in labels.tolist()])

        cx, cy = uniform(-0.3, 0.3, 1, 1), uniform(-0.3, 0.3, 1, 1)  # drawn in this order: the set is seeded
        radius, tilt = uniform(0.35, 0.6, 1, 1), uniform(-0.3, 0.3, 1, 1)
        dx, dy = self._xx - cx, self._yy - cy
        u = dx * torch.cos(tilt) + dy * torch.sin(tilt)  # the shape's own axes, tilted a little
        v = -dx * torch.sin(tilt) + dy * torch.cos(tilt)
        r, au, av = torch.sqrt(u * u + v * v), u.abs(), v.abs()
        masks = torch.stack(
            [
                r < radius,
                torch.maximum(au, av) < 0.8 * radius,
                (r < radius) & (r > 0.55 * radius),
                (v < 0.6 * radius) & (au < 0.9 * (v + radius) / 1.6),
                ((au < 0.3 * radius) & (av < radius)) | ((av < 0.3 * radius) & (au < radius)),
            ],
            dim=1,
        )  # (n, shapes, H, W)
        mask = masks[torch.arange(n), shape_id].unsqueeze(1).float()

        def grating(angle_deg: torch.Tensor, freq: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
            a = torch.deg2rad(angle_deg).view(n, 1, 1)
            along = self._xx * torch.cos(a) + self._yy * torch.sin(a)
            return 0.5 + 0.5 * torch.sin(2 * math.pi * freq * along + phase)

        stripes = grating(orientation + uniform(-8, 8), uniform(3.0, 6.0, 1, 1), uniform(0, 2 * math.pi, 1, 1))
        distractor = grating(uniform(0, 180), uniform(1.0, 3.0, 1, 1), uniform(0, 2 * math.pi, 1, 1))
        c = self.channels
        fg, bg = uniform(0.3, 1.0, c, 1, 1), uniform(0.0, 0.7, c, 1, 1)
        background = bg * (0.7 + 0.3 * distractor.unsqueeze(1))
        foreground = fg * (0.35 + 0.65 * stripes.unsqueeze(1))
        images = background * (1 - mask) + foreground * mask
        images = images + 0.12 * torch.randn(images.shape, generator=g)
        return ((images.clamp(0, 1) - _MEAN) / _STD).contiguous(), labels


# --------------------------------------------------------------------------------------------------------------
# A user's images
# --------------------------------------------------------------------------------------------------------------


MAX_PATH_CHARS = 1024  # characters a folder's path may have, as typed (the system's own limit is 4096 bytes)


def _shown(text: str, limit: int = 80) -> str:
    """A path as a message quotes it: at most ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _unreadable(text: str, exc: BaseException) -> DataError:
    """A path the system refused to follow (a symlink loop, a name too long, ...) as a one-line DataError."""
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:  # 3.11 raises RuntimeError
        return DataError(f"{_shown(text)} leads into a symlink loop (links that lead back to each other)")
    if getattr(exc, "errno", None) == errno.ENAMETOOLONG:
        return DataError(f"{_shown(text)} has a name longer than the system allows (255 bytes per folder name)")
    return DataError(f"{_shown(text)} cannot be read: {getattr(exc, 'strerror', None) or type(exc).__name__}")


def resolve_under_root(path: str | Path, root: Path | None = None) -> Path:
    """``path`` (relative to the data root, ``settings().data_root`` unless ``root`` is given, or absolute) as a
    real folder inside the root. Anything that leads outside it (``..``, an absolute path elsewhere, a symlink out)
    is refused with ``DataError``, and so is anything the system cannot follow (a symlink loop, a name too long)
    or a path longer than ``MAX_PATH_CHARS``."""
    root = (root or settings().data_root).resolve()
    text = str(path).strip()
    if not text or "\x00" in text:
        raise DataError("give a folder under the data root")
    if len(text) > MAX_PATH_CHARS:
        raise DataError(f"the folder's path has {len(text):,} characters; at most {MAX_PATH_CHARS:,} are allowed")
    candidate = Path(text)
    try:
        real = (candidate if candidate.is_absolute() else root / candidate).resolve()
        if not real.is_relative_to(root):
            raise DataError(f"{_shown(text)} is outside the data root; probes only read images under it")
        if not real.is_dir():
            raise DataError(f"{_shown(text)} is not a folder under the data root")
    except (OSError, RuntimeError) as exc:
        raise _unreadable(text, exc) from None
    return real


class ImageFolderData:
    """Images in class sub-folders (``root/cat/001.jpg``, the ImageFolder layout), read with Pillow, resized to
    ``image_size`` square. Every fifth image of each class (in name order) is held out."""

    HELDOUT_EVERY = 5

    def __init__(
        self,
        folder: str | Path,
        image_size: int,
        seed: int = 0,
        root: Path | None = None,
        channels: int = 3,
        cache_bytes: int = 512 * 2**20,
    ):
        if channels not in (1, 3):
            raise DataError(f"images from a folder are read as RGB or greyscale; the network takes {channels} channels")
        root = (root or settings().data_root).resolve()
        base = resolve_under_root(folder, root)
        self.image_size, self.seed, self.channels = image_size, seed, channels
        self.class_names: list[str] = []
        self.train: list[tuple[Path, int]] = []
        self.held: list[tuple[Path, int]] = []
        try:
            for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
                files = sorted(f for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
                files = [f for f in files if f.resolve().is_relative_to(root)]  # a symlink out of the root is skipped
                if not files:
                    continue
                label = len(self.class_names)
                self.class_names.append(class_dir.name)
                for i, f in enumerate(files):
                    (self.held if i % self.HELDOUT_EVERY == self.HELDOUT_EVERY - 1 else self.train).append((f, label))
        except (OSError, RuntimeError) as exc:  # a folder that cannot be listed, a loop met while resolving a file
            raise _unreadable(str(folder), exc) from None
        if len(self.class_names) < 2:
            raise DataError(
                f"{folder!r} needs at least two class sub-folders with images "
                f"({', '.join(sorted(IMAGE_SUFFIXES))}); found {len(self.class_names)}"
            )
        self.num_classes = len(self.class_names)
        self._cache: dict[Path, torch.Tensor] = {}
        self._cache_left = cache_bytes

    def _load(self, path: Path) -> torch.Tensor:
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im = im.convert("RGB" if self.channels == 3 else "L")
                im = im.resize((self.image_size, self.image_size), Image.BILINEAR)
                data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
        image = data.view(self.image_size, self.image_size, -1).permute(2, 0, 1).contiguous()
        if self._cache_left >= image.numel():
            self._cache[path] = image
            self._cache_left -= image.numel()
        return image

    def _stack(self, items: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([self._load(p) for p, _ in items]).float() / 255
        return (images - _MEAN) / _STD, torch.tensor([label for _, label in items])

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.randint(len(self.train), (batch_size,), generator=_generator(self.seed, 0, step))
        return self._stack([self.train[i] for i in picks.tolist()])

    def heldout(self, n: int, batch_size: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
        items = self.held[:n] or self.train[:n]
        return [self._stack(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def make_dataset(data, image_size: int, seed: int, channels: int = 3):
    """The data set a ``DataConfig`` names."""
    if data.source == "folder":
        return ImageFolderData(data.folder, image_size, seed, channels=channels)
    return SyntheticShapes(data.num_classes, image_size, seed, channels)
