"""Content taggers: automatic tags computed from a thumbnail's pixels (colours, faces), behind one small interface."""
from __future__ import annotations

import io
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from PIL import Image

from .images import THUMB_SIZE

if TYPE_CHECKING:
    import cv2
    import numpy as np

log = logging.getLogger(__name__)

PALETTE = ("black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige")
DEFAULT_TAGGERS = ("color", "faces")


class ContentTagger(Protocol):
    """Something that looks at an RGB thumbnail (at most THUMB_SIZE px on the long side) and names what it sees."""

    name: str

    def tags(self, image: Image.Image) -> Iterable[str]:
        """Tags for this image, most telling first."""


class ColorTagger:
    """The one or two dominant colours as `color:<word>` from a fixed palette of plain words."""

    name = "color"
    SAMPLE = 64  # 4096 pixels say as much about dominant colours as 260,000, at a hundredth of the cost
    SECOND_SHARE = 0.2  # a runner-up colour is named only when it covers at least this much of the picture

    def __init__(self) -> None:
        """Fail early (ImportError) when numpy is missing, so the registry can skip this tagger."""
        import numpy  # noqa: F401

    def tags(self, image: Image.Image) -> list[str]:
        """The top colour, and the second when it covers at least SECOND_SHARE of the pixels."""
        import numpy as np

        # Squashing to a square keeps each colour's share of the area, which is all we count.
        small = image.convert("RGB").resize((self.SAMPLE, self.SAMPLE), Image.Resampling.BOX)
        counts = np.bincount(classify_colors(np.asarray(small.convert("HSV"))).ravel(), minlength=len(PALETTE))
        order = np.argsort(-counts, kind="stable")  # stable: ties go to the palette's order, so results never wobble
        names = [PALETTE[order[0]]]
        if counts[order[1]] >= self.SECOND_SHARE * counts.sum():
            names.append(PALETTE[order[1]])
        return [f"color:{name}" for name in names]


def classify_colors(hsv: np.ndarray) -> np.ndarray:
    """Index into PALETTE for each pixel of a Pillow HSV array (all channels 0-255)."""
    import numpy as np

    h = hsv[..., 0].astype(np.float32) * (360 / 255)
    s = hsv[..., 1].astype(np.float32) / 255
    v = hsv[..., 2].astype(np.float32) / 255
    chroma = s * v
    # Below these, hue is mostly sensor noise and compression, so the pixel is judged by lightness alone.
    plain = (s < 0.15) | (chroma < 0.08)
    red, orange, yellow = (h < 11) | (h >= 345), (h >= 11) & (h < 40), (h >= 40) & (h < 70)
    magenta = (h >= 300) & (h < 345)
    rules = [  # first match wins
        ("black", v < 0.18),
        ("white", plain & (v >= 0.85)),
        ("black", plain & (v < 0.25)),
        ("gray", plain),
        # Brown is what people call dark or dull orange, and very dark reds and yellows.
        ("brown", (orange & ((v < 0.6) | ((s < 0.55) & (v < 0.75)))) | (red & (v < 0.4)) | (yellow & (v < 0.45))),
        # Beige is pale, washed-out orange and yellow: sand, walls, skin in soft light.
        ("beige", (orange | yellow) & (s < 0.4) & (v >= 0.6)),
        # Pink is light red and light magenta; darker magenta reads as purple.
        ("pink", (red & (s < 0.5) & (v >= 0.7)) | (magenta & (v >= 0.6))),
        ("purple", magenta | ((h >= 260) & (h < 300))),
        ("red", red), ("orange", orange), ("yellow", yellow),
        ("green", (h >= 70) & (h < 165)),
    ]
    # Whatever is left (hues 165-260, cyan through ultramarine) is blue.
    return np.select([rule for _, rule in rules], [PALETTE.index(name) for name, _ in rules],
                     default=PALETTE.index("blue"))


class FaceTagger:
    """`people` when a human face shows, and `people:group` from three faces up (OpenCV's YuNet detector)."""

    name = "faces"
    MODEL = Path(__file__).resolve().parent / "models" / "face_detection_yunet_2023mar.onnx"
    GROUP = 3
    # At 320 px a face needs about 6% of the long side to be found (a 19 px box scores 0.7): smaller ones hardly
    # make a photo "of people", and the detector costs about half of what it does at 512 px.
    WORK_SIZE = 320
    # Faces in the test photos score 0.90-0.94 at 320 px; a cat, textures and the astronaut's badges at most 0.25.
    SCORE_THRESHOLD, NMS_THRESHOLD, TOP_K = 0.6, 0.3, 5000
    # Below this many pixels on a side no face can be found (the smallest found is about 19 px at 320 px), and
    # YuNet's answer for such inputs is not to be trusted: a 1x1 picture was once tagged `people` after a photo.
    MIN_SIDE = 16

    def __init__(self) -> None:
        """Fail early: ImportError when OpenCV (4.8 or later) is missing, FileNotFoundError without the model."""
        import cv2

        if not hasattr(cv2, "FaceDetectorYN"):
            raise ImportError(f"OpenCV {cv2.__version__} has no FaceDetectorYN (YuNet needs 4.8 or later)")
        if not self.MODEL.is_file():
            raise FileNotFoundError(f"The face detection model is missing: {self.MODEL}")

    def tags(self, image: Image.Image) -> list[str]:
        """people and maybe people:group, or nothing."""
        faces = self.count(image)
        return (["people"] if faces else []) + (["people:group"] if faces >= self.GROUP else [])

    def count(self, image: Image.Image) -> int:
        """How many faces the detector finds."""
        import numpy as np

        if min(image.size) < self.MIN_SIDE:
            return 0
        rgb = image.convert("RGB")
        scale = self.WORK_SIZE / max(rgb.size)
        if scale < 1:
            rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                             Image.Resampling.BOX)
        bgr = np.ascontiguousarray(np.asarray(rgb)[..., ::-1])  # OpenCV's DNN models take BGR
        detector = self._detector()
        detector.setInputSize(rgb.size)
        _, found = detector.detect(bgr)
        return 0 if found is None else len(found)

    def _detector(self) -> cv2.FaceDetectorYN:
        """This thread's detector: one must not run in two threads at once, and each is loaded once."""
        detector = getattr(_local, "face_detector", None)
        if detector is None:
            import cv2

            detector = cv2.FaceDetectorYN.create(str(self.MODEL), "", (self.WORK_SIZE, self.WORK_SIZE),
                                                 self.SCORE_THRESHOLD, self.NMS_THRESHOLD, self.TOP_K)
            _local.face_detector = detector
        return detector


_local = threading.local()


TAGGERS: dict[str, Callable[[], ContentTagger]] = {"color": ColorTagger, "faces": FaceTagger}


def available_taggers(names: Iterable[str] | str | None = None) -> list[ContentTagger]:
    """Taggers by name (a list or a comma-separated string; None for the defaults); missing libraries are skipped."""
    if isinstance(names, str):
        names = names.split(",")
    wanted = DEFAULT_TAGGERS if names is None else tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in TAGGERS]
    if unknown:
        raise ValueError(f"Unknown content tagger(s): {', '.join(unknown)}; known ones are {', '.join(TAGGERS)}.")
    taggers = []
    for name in wanted:
        try:
            taggers.append(TAGGERS[name]())
        except ImportError as exc:
            # A missing optional library costs its tags, never the uploads.
            log.warning("Content tagger %r is off: %s", name, exc)
    return taggers


def content_tags(image: Image.Image, taggers: Iterable[ContentTagger]) -> tuple[str, ...]:
    """Every tagger's tags in order, without repeats; a tagger that fails is logged and skipped."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    found: dict[str, None] = {}
    for tagger in taggers:
        try:
            tags = list(tagger.tags(rgb))  # list() inside the try: generators fail late
        except Exception:  # noqa: BLE001 - a tagger must never break an upload
            log.warning("Content tagger %r failed; skipping it", getattr(tagger, "name", tagger), exc_info=True)
            continue
        found.update((tag, None) for tag in tags if isinstance(tag, str) and tag)
    return tuple(found)


def image_from_thumbnail(data: bytes) -> Image.Image:
    """Decode thumbnail bytes (WebP or JPEG) into an RGB image at most THUMB_SIZE px on the long side."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # a JPEG larger than a thumbnail decodes scaled down
        rgb = img.convert("RGB")
    rgb.thumbnail((THUMB_SIZE, THUMB_SIZE))
    return rgb
