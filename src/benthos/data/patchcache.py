"""Cut the box and point patches out of their photos once, before training.

Training visits every patch once per epoch in random order, so without this each visit decodes
the whole photo (a 12-megapixel JPEG: ~0.1 s on one core) to cut ~224 px out of it: on CoralNet
points from large survey photos, training ran at a third of its speed (BENCHMARKS.md). Here each
photo is decoded once, its patches are written as lossless PNG files into a folder, and the
samples that come back point at those files (``box`` None), so every epoch reads small files.
Patches much larger than the network will see are stored downscaled (``max_side``).
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from benthos.data.images import crop_padded, load_image
from benthos.data.samples import Sample
from benthos.errors import BenthosError, DataError

log = logging.getLogger(__name__)

DONE = "DONE.json"  # written by local rank 0 when every patch is cut (cut_patches_once)


def cut_patches(samples: Sequence[Sample], folder: str | os.PathLike, max_side: int | None = None,
                pad: str = "mean") -> list[Sample]:
    """The same samples, those with a ``box`` replaced by a PNG of their patch under ``folder``.

    Each photo is decoded once (samples are visited photo by photo). ``max_side``: a patch whose
    shorter side exceeds it is stored scaled down to that (training resizes it further anyway).
    A photo that cannot be read leaves its samples as they were: the dataset substitutes a blank,
    logs and counts them as for any unreadable image. Files are written atomically (temporary
    name, then rename), so processes cutting the same patches at once (DDP ranks) never read half
    a file. The original photo and box go into each sample's ``meta`` (``photo``, ``box``).
    """
    return _cut(samples, folder, max_side, pad)[0]


def _cut(samples: Sequence[Sample], folder: str | os.PathLike, max_side: int | None,
         pad: str) -> tuple[list[Sample], list[int]]:
    """:func:`cut_patches`, and the indices of the boxed samples whose photo could not be read."""
    folder = Path(folder)
    out, unread = list(samples), []
    todo = sorted((i for i, s in enumerate(samples) if s.box is not None), key=lambda i: str(samples[i].path))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _store_error(folder, exc, len(todo)) from None
    t0, photo, im, n_photos = time.time(), None, None, 0
    for i in todo:
        s = samples[i]
        if s.path != photo:
            photo, n_photos = s.path, n_photos + 1
            try:
                im = load_image(s.path)
            except DataError:
                im = None
        if im is None:
            unread.append(i)
            continue
        patch = crop_padded(im, s.box, pad)
        if max_side and min(patch.size) > max_side:
            scale = max_side / min(patch.size)
            patch = patch.resize((max(1, round(patch.width * scale)), max(1, round(patch.height * scale))),
                                 Image.Resampling.BILINEAR)
        dest = _patch_file(folder, i)
        tmp = folder / f".{i:07d}.{socket.gethostname()}.{os.getpid()}.png"
        try:
            patch.save(tmp, compress_level=1)
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _store_error(folder, exc, len(todo), s.path) from None
        out[i] = _cut_sample(s, dest)
    if todo:
        log.info("cut %d patches from %d photos once, in %.1f s (each epoch reads them, not the photos)",
                 len(todo), n_photos, time.time() - t0)
    return out, unread


def _store_error(folder: Path, exc: OSError, n: int, photo: Path | None = None) -> BenthosError:
    """What to do when a patch cannot be written: a full disk needs space, anything else a writable --out."""
    import errno

    what = f"could not store the training patch of {photo}" if photo else "could not create the patch folder"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = (f"Patches are cut once before training and need up to about {_size_hint(n)} of disk beside "
                "the run; free some space (or --out elsewhere) and train again")
    else:
        todo = "Training writes its patches inside the run folder: choose an --out you can write to and train again"
    return BenthosError(f"{folder}: {what} ({exc.strerror or exc}). {todo}")


def _size_hint(n: int) -> str:
    """Disk the patches take at most, roughly: 150 KB per 224 px patch as fast-compressed PNG (less for real photos)."""
    mb = n * 0.15
    return f"{mb / 1000:.1f} GB" if mb >= 1000 else f"{max(1, round(mb))} MB"


def _patch_file(folder: Path, i: int) -> Path:
    return folder / f"{i:07d}.png"


def _cut_sample(s: Sample, dest: Path) -> Sample:
    return Sample(dest, s.label, s.group, None, {**s.meta, "photo": str(s.path), "box": list(s.box)})


def _digest(samples: Sequence[Sample], max_side: int | None, pad: str) -> str:
    import hashlib

    h = hashlib.sha1(f"{max_side}|{pad}".encode())
    for s in samples:
        h.update(f"|{s.path}|{s.box}".encode())
    return h.hexdigest()


def local_rank() -> int:
    """This process's rank on its machine under DDP (Lightning, torchrun or SLURM set it); 0 alone,
    including inside a SLURM job step that runs a single task."""
    def env_int(*names: str) -> int:
        for name in names:
            try:
                return int(os.environ.get(name, "").strip())
            except ValueError:
                continue
        return 0

    if env_int("WORLD_SIZE", "SLURM_NTASKS") <= 1:
        return 0
    return env_int("LOCAL_RANK", "SLURM_LOCALID")


def shared_folder(root: str | os.PathLike) -> Path:
    """Where this machine's processes keep their patches under ``root``: one folder per machine,
    so that machines sharing a file system never write or remove each other's files."""
    return Path(root) / socket.gethostname()


def cut_patches_once(samples: Sequence[Sample], root: str | os.PathLike, max_side: int | None = None,
                     pad: str = "mean", rank: int | None = None, stall_s: float = 600.0) -> list[Sample]:
    """:func:`cut_patches` for the processes of one training on one machine (DDP ranks): local rank
    0 cuts into :func:`shared_folder` and then writes a marker naming what it cut; the other ranks
    wait for that marker and use the same files (cutting N times in parallel would cost N times
    the time and disk). A rank that sees no new patch file for ``stall_s`` seconds, or sees rank
    0's folder removed (rank 0 failed and cleaned up), stops with a clear error instead of waiting
    for ever. ``rank``: default :func:`local_rank`.
    """
    import json

    from benthos.runs.atomic import atomic_write_json

    folder = shared_folder(root)
    marker, digest = folder / DONE, _digest(samples, max_side, pad)
    rank = local_rank() if rank is None else rank
    if rank == 0:
        marker.unlink(missing_ok=True)  # left by an earlier run that was killed
        out, unread = _cut(samples, folder, max_side, pad)
        try:
            atomic_write_json(marker, {"digest": digest, "unread": unread})
        except OSError as exc:
            raise _store_error(folder, exc, len(out)) from None
        return out
    started = time.time()
    last, seen, existed = started, None, False
    while True:
        try:
            done = json.loads(marker.read_text(encoding="utf-8"))
            if done.get("digest") == digest:
                break
            if marker.stat().st_mtime >= started:  # written for this training, about other patches
                raise BenthosError(f"{folder}: rank 0 cut patches for other data than local rank {rank} reads; "
                                   "every rank must read the same DATA, --add and split. Check the launch command")
        except (OSError, ValueError):
            pass
        try:  # a file renamed into the folder changes its time: no need to list 100,000 patches
            state = folder.stat().st_mtime_ns
            existed = True
        except OSError:
            state = None
            if existed:
                raise BenthosError(f"{folder}: rank 0 stopped while cutting the training patches and removed "
                                   f"them (local rank {rank} was waiting); its log says why") from None
        if state != seen:
            last, seen = time.time(), state
        elif time.time() - last > stall_s:
            raise BenthosError(f"{folder}: local rank {rank} waited {stall_s:.0f} s for rank 0 to cut the training "
                               "patches, and none came; did rank 0 stop? See its log")
        time.sleep(0.5)
    unread = set(done.get("unread", []))
    return [_cut_sample(s, _patch_file(folder, i)) if s.box is not None and i not in unread else s
            for i, s in enumerate(samples)]


def remove_patches(root: str | os.PathLike, rank: int | None = None) -> None:
    """Remove this machine's patches (local rank 0 only: the others may still be reading), and
    ``root`` when no other machine's are left in it."""
    if (local_rank() if rank is None else rank) != 0:
        return
    shutil.rmtree(shared_folder(root), ignore_errors=True)
    try:
        Path(root).rmdir()
    except OSError:
        pass  # another machine's patches are still there, or root never existed
