"""Browser-friendly video renditions: which videos need one, and the H.264/AAC faststart MP4 itself."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Optional

import av

# What Chrome, Firefox, Edge and Safari all play, per container (MDN's codec and container tables).
# QuickTime is missing on purpose: only Safari takes video/quicktime, so every MOV gets a rendition.
PLAYABLE = {
    "mp4": ({"h264", "vp9", "av1"}, {"aac", "mp3", "opus", None}),
    "webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis", None}),
}
# Pixel formats browsers decode, for codecs where some profiles are out of reach: H.264 plays in 8-bit
# 4:2:0 only (High 10, 4:2:2 and 4:4:4, which some cameras record, fail in Chrome and Firefox).
PLAYABLE_PIXELS = {"h264": {"yuv420p", "yuvj420p"}}
# The rendition fits this box (long side, short side), keeping the aspect ratio.
MAX_LONG, MAX_SHORT = 1920, 1080
PRESET, CRF = "veryfast", 23
AUDIO_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
AUDIO_BIT_RATE = 128_000
MIME = "video/mp4"
MAX_EARLY_SOUND = 1000  # sound frames held while waiting for the first picture (about 20 s)
# Work limits (see Budget): no camera records more pictures a second than this (phones' slow motion is 240),
# and the packets of an honest file add up to no more than the file itself (every sample has its own bytes).
MAX_FPS = 240
SLACK_SECONDS = 1  # frames past the recorded duration a budget allows (rounded or audio-only durations)
BYTES_SLACK = 64 * 1024


@dataclass(frozen=True)
class Rendition:
    """What transcode() wrote."""

    width: int
    height: int
    frames: int
    has_audio: bool


class BudgetExceeded(Exception):
    """The video asks for more work than it can honestly need, or took too long: give up for good.

    The message is a sentence for the video's owner."""


@dataclass
class Budget:
    """What one transcode may do: frames, pixels decoded plus encoded, packet bytes read, and a deadline.

    Built from what the upload's record says (duration, width, height, size): a file cannot honestly hold
    more frames than its duration at MAX_FPS, each no larger than its recorded size, nor packets adding up to
    more bytes than it has. A crafted movie that points thousands of frames at one stored picture breaks
    these long before it could hold a worker for minutes; the deadline bounds everything else.
    """

    max_frames: Optional[int] = None
    max_pixels: Optional[int] = None
    max_bytes: Optional[int] = None
    deadline: Optional[float] = None  # time.monotonic() value
    seconds: Optional[float] = None  # the wall-clock limit the deadline came from, for the message
    frames: int = 0
    pixels: int = 0
    bytes: int = 0

    @classmethod
    def for_video(cls, *, duration: Optional[float], width: Optional[int], height: Optional[int],
                  size: Optional[int], pixel_ceiling: Optional[int], seconds: Optional[float]) -> "Budget":
        """The budget of a video with this recorded duration, size in pixels and size in bytes."""
        frames = math.ceil((duration + SLACK_SECONDS) * MAX_FPS) if duration and duration > 0 else None
        pixels = pixel_ceiling
        if frames is not None and width and height:
            honest = 2 * frames * width * height  # each frame decoded once and encoded at most as large
            pixels = honest if pixels is None else min(pixels, honest)
        return cls(max_frames=frames, max_pixels=pixels,
                   max_bytes=size + BYTES_SLACK if size is not None else None,
                   deadline=time.monotonic() + seconds if seconds else None, seconds=seconds)

    def check_time(self) -> None:
        """Raise BudgetExceeded once the deadline has passed."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"Making the playback version took longer than the limit of {self.seconds:g} s.")

    def packet(self, size: int) -> None:
        """Count a demuxed packet's bytes."""
        self.bytes += size
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            raise BudgetExceeded(
                f"The video's frames add up to more data ({self.bytes // 1024:,} KB read so far) than the file "
                f"holds ({self.max_bytes // 1024:,} KB): it repeats stored pictures, so it was not converted.")
        self.check_time()

    def picture(self, width: int, height: int, encoded: bool = False) -> None:
        """Count a decoded (or encoded) picture."""
        if not encoded:
            self.frames += 1
            if self.max_frames is not None and self.frames > self.max_frames:
                raise BudgetExceeded(
                    f"The video has more frames than its length can hold (over {self.max_frames:,} at up to "
                    f"{MAX_FPS} a second), so it was not converted.")
        self.pixels += width * height
        if self.max_pixels is not None and self.pixels > self.max_pixels:
            raise BudgetExceeded(
                f"The video needs more work than its length and picture size allow (over "
                f"{self.max_pixels:,} pixels to decode and encode), so it was not converted.")
        self.check_time()


def needs_rendition(container: Optional[str], video_codec: Optional[str], audio_codec: Optional[str],
                    pix_fmt: Optional[str] = None) -> bool:
    """Whether browsers other than Safari may fail to play this video as it is (HEVC, MOV, PCM sound,
    10-bit H.264...). An unknown pixel format (a record older than the probe's) counts as playable."""
    video_ok, audio_ok = PLAYABLE.get(container or "", (set(), set()))
    pixels_ok = pix_fmt is None or pix_fmt in PLAYABLE_PIXELS.get(video_codec or "", {pix_fmt})
    return video_codec not in video_ok or audio_codec not in audio_ok or not pixels_ok


def fit(width: int, height: int, rotation: int = 0, sample_aspect: Optional[Fraction] = None) -> tuple[int, int]:
    """Upright output size: square pixels, within MAX_LONG x MAX_SHORT, never enlarged, even sides."""
    if sample_aspect and sample_aspect > 0 and sample_aspect != 1:
        width = width * sample_aspect
    if rotation in (90, 270):
        width, height = height, width
    scale = min(Fraction(1), Fraction(MAX_LONG) / max(width, height), Fraction(MAX_SHORT) / min(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def transcode(src: str, dest: str, *, rotation: Optional[int] = None,
              on_progress: Optional[Callable[[float], None]] = None, budget: Optional[Budget] = None) -> Rendition:
    """Write an upright H.264/AAC MP4 with its index first (faststart) from the video at src.

    rotation is the clockwise turn a player should apply (as probed); None reads it from the file.
    on_progress gets the seconds of video done after each frame and may raise to stop the work.
    dest must be a real file: faststart rewrites it once the frames are in.
    budget bounds the work (BudgetExceeded past it); by default only the file's size bounds the packets read.
    """
    if budget is None:
        budget = Budget(max_bytes=os.path.getsize(src) + BYTES_SLACK)
    with av.open(src, metadata_errors="ignore") as source:
        video = _video_stream(source)
        sound = next((s for s in source.streams.audio if s.codec_context is not None), None)
        video.thread_type = "AUTO"
        with av.open(dest, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            job = _Transcode(source, video, sound, out, rotation, on_progress, budget)
            return job.run()


def _video_stream(container: Any) -> Any:
    """The first real video stream (not a cover picture)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise ValueError("no video stream")


class _Transcode:
    """One decode -> rotate and scale -> encode -> mux pass over a source."""

    def __init__(self, source: Any, video: Any, sound: Any, out: Any, rotation: Optional[int],
                 on_progress: Optional[Callable[[float], None]], budget: Budget):
        self.source, self.video, self.sound, self.out = source, video, sound, out
        self.rotation, self.on_progress, self.budget = rotation, on_progress, budget
        self.graph: Any = None
        self.graph_input: tuple = ()
        self.vout: Any = None
        self.aout: Any = None
        self.last_pts: Optional[int] = None
        self.frames = 0

    def run(self) -> Rendition:
        """Decode every packet of the chosen streams, in file order, and flush at the end."""
        streams = [s for s in (self.video, self.sound) if s is not None]
        pending_audio: list[Any] = []  # sound that decodes before the first picture opens the file
        for packet in self.source.demux(streams):
            self.budget.packet(packet.size)
            for frame in packet.decode():
                if packet.stream is self.video:
                    self._picture(frame)
                    for early in pending_audio:
                        self._sound(early)
                    pending_audio.clear()
                elif self.vout is None:
                    if len(pending_audio) >= MAX_EARLY_SOUND:
                        raise ValueError("no picture could be decoded near the start")
                    pending_audio.append(frame)
                else:
                    self._sound(frame)
        if self.vout is None:
            raise ValueError("no frame of the video could be decoded")
        for early in pending_audio:
            self._sound(early)
        self._filtered(None)
        self.out.mux(self.vout.encode(None))
        if self.aout is not None:
            self.out.mux(self.aout.encode(None))
        return Rendition(self.vout.width, self.vout.height, self.frames, self.aout is not None)

    def _open_streams(self, frame: Any) -> None:
        """Add the output streams, sized from the first frame (every stream exists before any packet)."""
        if self.rotation is None:
            self.rotation = (-frame.rotation) % 360 if frame.rotation else 0
        size = fit(frame.width, frame.height, self.rotation, self.video.sample_aspect_ratio)
        rate = self.video.average_rate or self.video.guessed_rate or Fraction(30)
        vout = self.out.add_stream("libx264", rate=rate, options={"preset": PRESET, "crf": str(CRF)})
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        # Keep the source's clock: phones record variable frame rates.
        vout.codec_context.time_base = self.video.time_base or Fraction(1, 90000)
        self.vout = vout
        if self.sound is not None:
            channels = self.sound.codec_context.channels or 2
            rate = self.sound.codec_context.sample_rate
            aout = self.out.add_stream("aac", rate=rate if rate in AUDIO_RATES else 48000)
            aout.layout = "mono" if channels == 1 else "stereo"
            aout.bit_rate = AUDIO_BIT_RATE
            self.aout = aout

    def _picture(self, frame: Any) -> None:
        """Take one decoded picture through the filters into the encoder."""
        if self.vout is None:
            self._open_streams(frame)
        self.budget.picture(frame.width, frame.height)
        if frame.time_base is None:
            frame.time_base = self.video.time_base
        self._filtered(frame)
        if self.on_progress is not None and frame.time is not None:
            self.on_progress(float(frame.time))

    def _build_graph(self, frame: Any) -> None:
        """buffer -> scale -> (transpose) -> yuv420p -> sink, for frames shaped like this one."""
        turned = self.rotation in (90, 270)
        width, height = (self.vout.height, self.vout.width) if turned else (self.vout.width, self.vout.height)
        graph = av.filter.Graph()
        nodes = [graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                  time_base=frame.time_base),
                 graph.add("scale", f"{width}:{height}")]
        turns = {90: ["transpose=clock"], 180: ["hflip", "vflip"], 270: ["transpose=cclock"]}
        for step in turns.get(self.rotation, []):
            name, _, args = step.partition("=")
            nodes.append(graph.add(name, args or None))
        nodes += [graph.add("format", "yuv420p"), graph.add("buffersink")]
        graph.link_nodes(*nodes).configure()
        self.graph = graph
        self.graph_input = (frame.width, frame.height, frame.format.name)

    def _filtered(self, frame: Any) -> None:
        """Push a frame (None: the end) through the graph and encode what comes out."""
        if frame is not None and (frame.width, frame.height, frame.format.name) != self.graph_input:
            if self.graph is not None:  # the picture size changed mid-stream: drain, then rebuild
                self._filtered(None)
            self._build_graph(frame)
        if self.graph is None:
            return
        self.graph.push(frame)
        while True:
            try:
                shaped = self.graph.pull()
            except (av.BlockingIOError, EOFError):
                break
            self._encode(shaped)
        if frame is None:
            self.graph, self.graph_input = None, ()

    def _encode(self, frame: Any) -> None:
        """Encode one upright, scaled picture with strictly increasing timestamps."""
        if frame.pts is None or (self.last_pts is not None and frame.pts <= self.last_pts):
            frame.pts = 0 if self.last_pts is None else self.last_pts + 1
        self.last_pts = frame.pts
        self.budget.picture(frame.width, frame.height, encoded=True)
        self.out.mux(self.vout.encode(frame))
        self.frames += 1

    def _sound(self, frame: Any) -> None:
        """Encode decoded sound (the encoder resamples to its rate, layout and frame size)."""
        if self.aout is not None:
            self.out.mux(self.aout.encode(frame))
