"""Videos: probe and validate with PyAV, read container metadata, and make the poster."""
from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from itertools import islice
from typing import Any, BinaryIO, Callable, Iterator, Optional

import av
from PIL import Image

from ..errors import Unprocessable
from ..models import VIDEO
from .images import THUMB_EXT, THUMB_MIME, THUMB_SIZE, clean_text, encode_webp, placeholder_thumbnail
from .mp4check import check_mp4
from .sniff import FORMAT_NAMES, SNIFF_BYTES, MediaInfo, Sniffed, webm_segment_end
from ..formats import iso

# Demuxer names (FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2" and "matroska,webm") each sniffed type may have.
_FAMILIES = {"mp4": {"mp4", "mov"}, "mov": {"mp4", "mov"}, "webm": {"webm"}}
# The poster is taken about this far in: past fades from black, still early enough to be cheap.
POSTER_SECONDS = 1.0
# Decoding stops here even if the poster time was not reached (odd timestamps, huge frame rates).
MAX_POSTER_FRAMES = 240
_CREATION_KEYS = ("com.apple.quicktime.creationdate", "creation_time")
_LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_ISO6709_RE = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")


def inspect_video(path: str, sniffed: Sniffed, *, max_pixels: Optional[int] = None,
                  open_file: Optional[Callable[[], BinaryIO]] = None) -> MediaInfo:
    """Probe a video, decode its opening frames, and derive metadata and a poster; the bytes are read from
    open_file() when given (a sparse copy that fetches what it lacks), else from path."""
    # Before av.open: FFmpeg indexes every sample an MP4's tables list as it opens the file.
    _check_complete(path, sniffed, open_file)
    source = open_file() if open_file is not None else path
    try:
        try:
            container = av.open(source, metadata_errors="ignore")
        except (av.FFmpegError, ValueError) as exc:
            raise _broken(sniffed, exc) from exc
        try:
            return _inspect_open(container, path, sniffed, max_pixels)
        except (av.FFmpegError, ValueError) as exc:
            raise _broken(sniffed, exc) from exc
        finally:
            container.close()
    finally:
        if open_file is not None:
            source.close()


def _broken(sniffed: Sniffed, exc: Exception) -> Unprocessable:
    """The error for a video FFmpeg cannot read."""
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return Unprocessable(f"This {FORMAT_NAMES[sniffed.ext]} video is damaged or incomplete and cannot "
                         f"be played ({reason}).")


def _inspect_open(container: Any, path: str, sniffed: Sniffed, max_pixels: Optional[int]) -> MediaInfo:
    """The work of inspect_video on an opened container."""
    names = set(container.format.name.split(","))
    if not names & _FAMILIES[sniffed.ext]:
        raise Unprocessable(f"This file looks like {FORMAT_NAMES[sniffed.ext]} but FFmpeg reads it as "
                            f"{container.format.long_name}.")
    streams = [s for s in container.streams.video
               if not s.disposition & av.stream.Disposition.attached_pic]
    if not streams:
        raise Unprocessable("This file has no video stream.")
    stream = streams[0]
    if stream.codec_context is None:
        raise Unprocessable("Momento cannot decode the video in this file.")
    width, height = stream.codec_context.width, stream.codec_context.height
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels  # same default as photos
    if limit is not None and width * height > limit:
        raise Unprocessable("This video's frames have too many pixels for Momento to process safely.",
                            code="too_many_pixels")
    duration = _duration(container, stream)
    first, poster = _opening_frames(container, stream, duration)
    rotation = (-first.rotation) % 360 if first.rotation else _rotate_tag(stream)
    width, height = width or first.width, height or first.height
    if rotation in (90, 270):
        width, height = height, width
    audio = container.streams.audio
    fps = stream.average_rate or stream.guessed_rate
    metadata = {**stream.metadata, **container.metadata}
    return MediaInfo(
        kind=VIDEO, mime=sniffed.mime, ext=sniffed.ext, width=width, height=height,
        duration=duration, taken_at=_taken_at(metadata), camera_make=_tag(metadata, "make"),
        camera_model=_tag(metadata, "model"), gps=_gps(metadata),
        thumbnail=_poster(poster, rotation), thumb_mime=THUMB_MIME, thumb_ext=THUMB_EXT,
        extra={
            "container": sniffed.ext,
            "video_codec": stream.codec_context.codec.canonical_name,
            "pix_fmt": stream.codec_context.pix_fmt,
            "audio_codec": audio[0].codec_context.codec.canonical_name if audio else None,
            "has_audio": bool(audio),
            "rotation": rotation,
            "fps": round(float(fps), 3) if fps else None,
            "bit_rate": container.bit_rate or None,
        },
    )


def _check_complete(path: str, sniffed: Sniffed, open_file: Optional[Callable[[], BinaryIO]]) -> None:
    """Refuse a file cut short, and an MP4/MOV whose sample tables contradict the file."""
    if sniffed.ext != "webm":
        if open_file is None:
            check_mp4(path, FORMAT_NAMES[sniffed.ext])
            return
        with open_file() as fh:
            check_mp4(path, FORMAT_NAMES[sniffed.ext], fh)
        return
    with open(path, "rb") as fh:
        end = webm_segment_end(fh.read(SNIFF_BYTES))
    if end is not None and end > os.path.getsize(path):
        raise Unprocessable(f"This {FORMAT_NAMES[sniffed.ext]} video is incomplete: the file ends early.")


def _duration(container: Any, stream: Any) -> Optional[float]:
    """Length in seconds from the container, else from the video stream."""
    if container.duration:
        return round(container.duration / av.time_base, 3)
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base), 3)
    return None


def _decoded(container: Any, stream: Any) -> Iterator[Any]:
    """Video frames in order, decoded as their packets arrive."""
    for packet in container.demux(stream):
        yield from packet.decode()


def _opening_frames(container: Any, stream: Any, duration: Optional[float]) -> tuple[Any, Any]:
    """The first decodable frame (proof the video plays) and the poster frame."""
    target = POSTER_SECONDS if duration is None or duration >= 2 * POSTER_SECONDS else duration / 2
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    stream.thread_type = "AUTO"
    first = poster = None
    try:
        # Decoding straight on from the start costs what a seek to 1 s would (the keyframe
        # before 1 s is nearly always the first one) and checks the opening frames on the way.
        for frame in islice(_decoded(container, stream), MAX_POSTER_FRAMES):
            if first is None:
                first = frame
            poster = frame
            if frame.time is None or frame.time - start >= target:
                break
    except av.FFmpegError:
        if first is None:
            raise
    if first is None:
        raise Unprocessable("No frame of this video could be decoded.")
    return first, poster


def _poster(frame: Any, rotation: int) -> bytes:
    """The poster as an upright WebP, or the placeholder if the frame will not convert."""
    scale = min(1.0, THUMB_SIZE / max(frame.width, frame.height, 1))
    size = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    try:
        image = frame.to_image(width=size[0], height=size[1], interpolation="AREA")
    except (av.FFmpegError, ValueError):
        return placeholder_thumbnail(VIDEO)
    turns = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_90}
    if rotation in turns:
        image = image.transpose(turns[rotation])
    return encode_webp(image)


def _rotate_tag(stream: Any) -> int:
    """Clockwise rotation from an old-style 'rotate' tag, 0 if absent or odd."""
    try:
        value = int(stream.metadata.get("rotate", 0)) % 360
    except ValueError:
        return 0
    return value if value in (0, 90, 180, 270) else 0


def _tag(metadata: dict, suffix: str) -> Optional[str]:
    """An Apple/Android camera tag such as com.apple.quicktime.make, cleaned as EXIF text is."""
    for key, value in metadata.items():
        if key.lower() in (suffix, f"com.apple.quicktime.{suffix}", f"com.android.{suffix}"):
            return clean_text(value)
    return None


def _taken_at(metadata: dict) -> Optional[str]:
    """Capture time as ISO 8601 UTC; zero dates (1904/1970 epochs) are ignored."""
    for key in _CREATION_KEYS:
        try:
            moment = datetime.fromisoformat(metadata.get(key, "").strip())
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)
        if moment.year > 1970:
            return iso(moment)
    return None


def _gps(metadata: dict) -> Optional[dict[str, float]]:
    """{"lat", "lon"[, "alt"]} from an ISO 6709 location tag such as '+48.8583+002.2945/'."""
    for key in _LOCATION_KEYS:
        match = _ISO6709_RE.match(metadata.get(key, ""))
        if not match:
            continue
        lat, lon = _iso6709_degrees(match[1], 2), _iso6709_degrees(match[2], 3)
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            place = {"lat": round(lat, 7), "lon": round(lon, 7)}
            if match[3]:
                place["alt"] = round(float(match[3]), 2)
            return place
    return None


def _iso6709_degrees(text: str, degree_digits: int) -> float:
    """Decimal degrees from ISO 6709's ±DD.D, ±DDMM.M or ±DDMMSS.S forms."""
    sign = -1.0 if text[0] == "-" else 1.0
    whole, _, fraction = text[1:].partition(".")
    extra = len(whole) - degree_digits  # 0: degrees, 2: + minutes, 4: + seconds
    number = float(text[1:])
    if extra == 2:
        number = int(whole[:degree_digits]) + float(whole[degree_digits:] + "." + (fraction or "0")) / 60
    elif extra == 4:
        seconds = float(whole[degree_digits + 2:] + "." + (fraction or "0"))
        number = int(whole[:degree_digits]) + int(whole[degree_digits:degree_digits + 2]) / 60 + seconds / 3600
    return sign * number
