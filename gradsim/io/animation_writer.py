"""Animated pictures from frames: GIF, WebP and APNG with Pillow, MP4 (H.264) with imageio-ffmpeg.

Frames are RGB arrays ``(H, W, 3) uint8`` of one size. The file is written atomically
(:func:`gradsim.io.atomic.atomic_path`): the frames go to a temporary file next to the target,
renamed over it only when the whole animation is encoded; :meth:`AnimationWriter.abort` (a
cancel) or any error leaves no file behind and an existing file untouched.

GIF, WebP and APNG are encoded by Pillow when the writer is closed (Pillow writes an animation
in one call), so the frames are kept in memory until then: a GIF's frames as palette images
(one byte a pixel), the others as RGB. MP4 frames are streamed to an ``ffmpeg`` process as they
come. MP4 is optional: ``pip install "gradsim[video]"`` brings ``imageio-ffmpeg`` with its own
ffmpeg binary.

No Qt here: the frames may come from anywhere (the window's plots, a script).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

import numpy as np

from gradsim.io.atomic import WriteError, atomic_path

__all__ = [
    "FORMATS",
    "FORMAT_LABELS",
    "MAX_FRAMES",
    "VIDEO_MISSING",
    "AnimationWriter",
    "VideoSupportMissing",
    "format_for_path",
    "frame_duration_ms",
    "suffix_for",
    "video_available",
]

FORMATS = ("gif", "webp", "apng", "mp4")
FORMAT_LABELS = {
    "gif": "Animated GIF",
    "webp": "Animated WebP",
    "apng": "Animated PNG (APNG)",
    "mp4": "MP4 video (H.264)",
}
_SUFFIXES = {".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng", ".mp4": "mp4"}
# The most frames one animation holds: Pillow keeps every frame in memory until it encodes
# (1000 RGB frames of 1280 x 800 are 3 GB).
MAX_FRAMES = 1000
VIDEO_MISSING = 'MP4 needs the video extra: pip install "gradsim[video]"'


class VideoSupportMissing(RuntimeError):
    """MP4 was asked for but ``imageio-ffmpeg`` is not installed (the message names the extra)."""

    def __init__(self) -> None:
        super().__init__(VIDEO_MISSING)


def video_available() -> bool:
    """Whether MP4 can be written (``imageio-ffmpeg`` is importable)."""
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for: ``.gif``, ``.webp``, ``.png``/``.apng``, ``.mp4``.

    Raises
    ------
    ValueError
        Another extension; the message lists the ones understood.
    """
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"cannot write {os.fspath(path)}: an animation's file name must end in .gif, .webp, "
            ".png (APNG) or .mp4"
        )
    return _SUFFIXES[suffix]


def suffix_for(fmt: str) -> str:
    """The file extension of ``fmt`` (``".png"`` for APNG: every viewer opens it as a PNG)."""
    return {"gif": ".gif", "webp": ".webp", "apng": ".png", "mp4": ".mp4"}[fmt]


def frame_duration_ms(fmt: str, fps: float) -> int:
    """How long each frame shows, in milliseconds, as the file will store it.

    GIF stores delays in hundredths of a second, so its duration is rounded to 10 ms (20 fps:
    50 ms; 30 fps: 30 ms). Other formats store milliseconds.
    """
    if not 0 < fps <= 100:
        raise ValueError(f"the frame rate must be above 0 and at most 100 frames a second (got {fps:g})")
    if fmt == "gif":
        return max(10, 10 * round(100.0 / fps))
    return max(1, round(1000.0 / fps))


class AnimationWriter:
    """Collect frames and write them as one animation file, atomically.

    Parameters
    ----------
    path : the file to write (created only by :meth:`close`)
    fmt : one of :data:`FORMATS`; by default from the file name (:func:`format_for_path`)
    fps : frames a second (above 0, at most 100)
    loop : times a GIF/WebP/APNG plays (0: for ever); ignored by MP4

    Use as a context manager (an exception inside aborts, leaving no file), or call
    :meth:`add` for each frame, then :meth:`close` (or :meth:`abort`).

    Raises
    ------
    ValueError
        An unknown format or a frame rate out of range.
    VideoSupportMissing
        MP4 without ``imageio-ffmpeg``.
    WriteError
        The temporary file cannot be created next to ``path`` (missing folder, no permission).
    """

    def __init__(
        self, path: str | os.PathLike[str], fmt: str | None = None, fps: float = 20.0, loop: int = 0
    ) -> None:
        self.path = Path(os.fspath(path))
        self.format = format_for_path(self.path) if fmt is None else fmt
        if self.format not in FORMATS:
            raise ValueError(f"the animation format must be one of {', '.join(FORMATS)} (got {fmt!r})")
        self.fps = float(fps)
        self.duration_ms = frame_duration_ms(self.format, self.fps)
        self.loop = int(loop)
        if self.format == "mp4" and not video_available():
            raise VideoSupportMissing()
        self.frame_count = 0
        self.size: tuple[int, int] | None = None  # (width, height) of the first frame
        self._frames: list[object] = []  # PIL images (GIF, WebP, APNG)
        self._video: Iterator[None] | None = None
        self._lookup: np.ndarray | None = None  # GIF: colour -> palette index
        self._open = True
        self._context: AbstractContextManager[Path] = atomic_path(self.path)
        self._temp = self._context.__enter__()

    # -- frames ------------------------------------------------------------------------------
    def add(self, frame: np.ndarray) -> None:
        """Append one frame: ``(H, W, 3) uint8`` RGB, the size of the first frame.

        Raises
        ------
        ValueError
            Not an RGB frame, a size other than the first frame's, or more than
            :data:`MAX_FRAMES` frames.
        """
        if not self._open:
            raise ValueError("the animation is already closed")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"a frame must be an (H, W, 3) uint8 RGB array (got {frame.shape} {frame.dtype})"
            )
        height, width = frame.shape[:2]
        if self.size is None:
            self.size = (width, height)
        elif self.size != (width, height):
            raise ValueError(
                f"every frame must be {self.size[0]} x {self.size[1]} pixels (got {width} x {height})"
            )
        if self.frame_count >= MAX_FRAMES:
            raise ValueError(f"an animation holds at most {MAX_FRAMES} frames")
        if self.format == "mp4":
            self._add_video_frame(frame)
        else:
            self._frames.append(self._pillow_frame(frame))
        self.frame_count += 1

    def _pillow_frame(self, frame: np.ndarray) -> object:
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
        if self.format == "gif":
            # A palette of the frame's own colours now, so memory holds one byte a pixel and the
            # encoder at close has no quantising left to do.
            if self._lookup is None:
                self._lookup = np.zeros(1 << 24, dtype=np.uint8)  # 16 MB, once per animation
            return _palette_image(frame, image, self._lookup)
        return image

    def _add_video_frame(self, frame: np.ndarray) -> None:
        # H.264 in yuv420p needs even sides: repeat the last row or column when odd.
        height, width = frame.shape[:2]
        if height % 2 or width % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        if self._video is None:
            import imageio_ffmpeg

            self._video = imageio_ffmpeg.write_frames(
                str(self._temp), (frame.shape[1], frame.shape[0]), fps=self.fps, codec="libx264",
                pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=7, macro_block_size=2,
                ffmpeg_log_level="error", output_params=["-movflags", "+faststart"],
            )  # fmt: skip
            self._video.send(None)  # start the ffmpeg process
        try:
            self._video.send(np.ascontiguousarray(frame).tobytes())
        except (OSError, RuntimeError) as error:
            raise WriteError(self.path, f"the video encoder failed ({error})") from error

    # -- finishing ---------------------------------------------------------------------------
    def close(self) -> int:
        """Encode the frames and put the file in place; returns the number of frames.

        Raises
        ------
        ValueError
            No frame was added (nothing is written).
        WriteError
            The file could not be written (nothing is left behind).
        """
        if not self._open:
            raise ValueError("the animation is already closed")
        try:
            if self.frame_count == 0:
                raise ValueError("an animation needs at least one frame")
            self._encode()
        except BaseException as error:
            self._finish(error)
            raise
        self._finish(None)
        return self.frame_count

    def abort(self) -> None:
        """Drop the frames and the temporary file: nothing is written (safe to call twice)."""
        if self._open:
            self._finish(_Aborted())

    def _finish(self, error: BaseException | None) -> None:
        self._open = False
        self._frames = []
        self._lookup = None
        video, self._video = self._video, None
        if video is not None:
            try:
                video.close()  # ends ffmpeg (and waits for it)
            except Exception as failure:  # a broken encoder is a write failure
                error = error or WriteError(self.path, f"the video encoder failed ({failure})")
        if error is None:
            self._context.__exit__(None, None, None)
            return
        # atomic_path removes the temporary file; an OSError comes back as a WriteError.
        try:
            self._context.__exit__(type(error), error, error.__traceback__)
        except _Aborted:
            pass

    def _encode(self) -> None:
        if self.format == "mp4":
            return  # streamed already; closing the encoder finishes the file
        first, *rest = self._frames
        options: dict[str, object] = {
            "save_all": True,
            "append_images": rest,
            "duration": self.duration_ms,
            "loop": self.loop,
        }
        if self.format == "gif":
            options.update(optimize=False, disposal=1)
            pillow_format = "GIF"
        elif self.format == "webp":
            # Lossless: plots are flat colours and thin lines, which lossy WebP smears.
            options.update(lossless=True, quality=60, method=2)
            pillow_format = "WEBP"
        else:
            pillow_format = "PNG"
        first.save(self._temp, format=pillow_format, **options)  # type: ignore[attr-defined]

    def __enter__(self) -> AnimationWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None or kind is not None:
            self.abort()
        elif self._open:
            self.close()


def _palette_image(frame: np.ndarray, image: object, lookup: np.ndarray) -> object:
    """``frame`` as a palette image: exact when it has at most 256 colours, else median cut.

    A plot has few colours (about 230 for the gradient plot, antialiasing included), so the
    exact palette is the usual case, and several times faster than Pillow's quantiser.
    ``lookup`` is a ``(2**24,) uint8`` table (colour -> palette index) reused from frame to
    frame; only the entries of this frame's colours are written, and only those are read.
    """
    from PIL import Image

    assert isinstance(image, Image.Image)
    counted = image.getcolors(256)  # None when there are more
    if counted is None:
        return image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    colors = np.array(sorted((r << 16) | (g << 8) | b for _, (r, g, b) in counted), dtype=np.uint32)
    packed = (
        (frame[..., 0].astype(np.uint32) << 16) | (frame[..., 1].astype(np.uint32) << 8) | frame[..., 2]
    )
    lookup[colors] = np.arange(len(colors), dtype=np.uint8)
    paletted = Image.fromarray(lookup[packed], "P")
    palette = np.stack([(colors >> 16) & 255, (colors >> 8) & 255, colors & 255], axis=1).astype(np.uint8)
    paletted.putpalette(palette.tobytes())
    return paletted


class _Aborted(Exception):
    """Thrown into the atomic write to make it remove its temporary file."""
