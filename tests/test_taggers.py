"""Content taggers: colour names, faces (YuNet), the registry, and a pipeline that survives a broken tagger."""
from __future__ import annotations

import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from momento.media import taggers
from momento.media.images import encode_webp
from momento.media.taggers import (ColorTagger, FaceTagger, available_taggers, content_tags,
                                   image_from_thumbnail)

DATA = Path(__file__).parent / "data"
SOLIDS = {
    "black": (10, 10, 12), "white": (250, 250, 247), "gray": (128, 128, 130), "red": (210, 25, 30),
    "orange": (255, 140, 0), "yellow": (250, 220, 30), "green": (40, 160, 60), "blue": (30, 80, 200),
    "purple": (120, 50, 160), "pink": (255, 150, 190), "brown": (120, 70, 30), "beige": (225, 205, 165),
}
PLAIN = {"color:black", "color:gray", "color:white"}


def photo(name: str) -> Image.Image:
    """One of the photos in tests/data, as RGB."""
    with Image.open(DATA / f"{name}.jpg") as img:
        return img.convert("RGB")


def gray(array: np.ndarray) -> Image.Image:
    """An RGB image from a 2-D array of grey levels."""
    return Image.fromarray(array.clip(0, 255).astype(np.uint8)).convert("RGB")


def face_crop() -> Image.Image:
    """Eileen Collins's face, cut from the astronaut photo."""
    return photo("astronaut").crop((150, 30, 300, 200))


def synthetic() -> dict[str, Image.Image]:
    """Pictures with no face in them: noise, gradients, stripes, a checkerboard, a solid."""
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[0:384, 0:512]
    colour_noise = rng.integers(0, 256, (384, 512, 3), dtype=np.uint8)
    return {
        "noise": gray(rng.integers(0, 256, (384, 512))),
        "colour noise": Image.fromarray(colour_noise),
        "horizontal gradient": gray(xx / 511 * 255),
        "radial gradient": gray(np.hypot(yy - 192, xx - 256) / 320 * 255),
        "stripes": gray((np.sin(xx / 5) + 1) * 127),
        "checkerboard": gray(((yy // 16 + xx // 16) % 2) * 255),
        "solid": Image.new("RGB", (512, 384), (90, 120, 150)),
    }


@pytest.mark.parametrize("word", list(SOLIDS))
def test_solid_colour_is_named(word):
    assert ColorTagger().tags(Image.new("RGB", (320, 240), SOLIDS[word])) == [f"color:{word}"]


@pytest.mark.parametrize("word", ["red", "blue", "green", "pink", "brown"])
def test_colour_survives_the_webp_thumbnail(word):
    data = encode_webp(Image.new("RGB", (512, 384), SOLIDS[word]))
    assert ColorTagger().tags(image_from_thumbnail(data)) == [f"color:{word}"]


def split(first: str, second: str, share: float) -> Image.Image:
    """Left `share` of the width in one palette colour, the rest in another."""
    img = Image.new("RGB", (500, 300), SOLIDS[second])
    img.paste(SOLIDS[first], (0, 0, round(500 * share), 300))
    return img


def test_two_halves_give_both_colours():
    assert set(ColorTagger().tags(split("blue", "yellow", 0.5))) == {"color:blue", "color:yellow"}


def test_a_small_patch_is_not_named():
    assert ColorTagger().tags(split("green", "red", 0.9)) == ["color:green"]


def test_the_bigger_share_comes_first():
    assert ColorTagger().tags(split("purple", "orange", 0.65)) == ["color:purple", "color:orange"]


@pytest.mark.parametrize("img", [gray(np.tile(np.linspace(0, 255, 512), (256, 1))),
                                 gray(np.tile(np.linspace(0, 255, 384)[:, None], (1, 512)))],
                         ids=["horizontal", "vertical"])
def test_grey_gradient_has_only_plain_colours(img):
    tags = ColorTagger().tags(img)
    assert tags and set(tags) <= PLAIN


def test_colours_of_the_photos_are_plausible():
    assert ColorTagger().tags(photo("chelsea"))[0] in {"color:brown", "color:orange"}
    astronaut = ColorTagger().tags(photo("astronaut"))
    assert astronaut[0] in PLAIN and set(astronaut) <= PLAIN | {"color:orange", "color:red"}


def test_colour_tags_are_deterministic():
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (200, 300, 3), dtype=np.uint8))
    assert len({tuple(ColorTagger().tags(img)) for _ in range(3)}) == 1


def side_by_side(img: Image.Image, times: int) -> Image.Image:
    """`times` copies of a picture in a row."""
    row = Image.new("RGB", (img.width * times, img.height))
    for i in range(times):
        row.paste(img, (i * img.width, 0))
    return row


def test_a_face_is_people():
    assert FaceTagger().tags(photo("astronaut")) == ["people"]
    assert FaceTagger().count(photo("astronaut")) == 1


def test_a_small_face_is_still_found():
    canvas = Image.new("RGB", (512, 384), (180, 180, 175))
    canvas.paste(face_crop().resize((100, 113)), (300, 60))
    assert FaceTagger().tags(canvas) == ["people"]


def test_two_people_are_two_faces_but_not_a_group():
    two = side_by_side(photo("astronaut"), 2)
    assert FaceTagger().count(two) == 2 and FaceTagger().tags(two) == ["people"]


def test_three_faces_are_a_group():
    canvas = Image.new("RGB", (512, 200), (200, 200, 200))
    for i in range(3):
        canvas.paste(face_crop(), (10 + i * 170, 15))
    assert FaceTagger().count(canvas) == 3
    assert FaceTagger().tags(canvas) == ["people", "people:group"]


def test_a_cat_is_not_people():
    assert FaceTagger().count(photo("chelsea")) == 0
    assert FaceTagger().count(side_by_side(photo("chelsea"), 2)) == 0


@pytest.mark.parametrize("name", list(synthetic()))
def test_textures_and_gradients_are_not_people(name):
    assert FaceTagger().tags(synthetic()[name]) == []


@pytest.mark.parametrize("word", list(SOLIDS))
def test_flat_colours_are_not_people(word):
    assert FaceTagger().tags(Image.new("RGB", (512, 384), SOLIDS[word])) == []


def test_faces_in_a_grey_or_tiny_picture():
    assert FaceTagger().tags(photo("astronaut").convert("L")) == ["people"]
    assert FaceTagger().tags(Image.new("RGB", (1, 1))) == []


def test_faces_work_from_several_threads_at_once(monkeypatch):
    import cv2

    created = []
    real_create = cv2.FaceDetectorYN.create

    def counted(*args):
        created.append(threading.get_ident())
        return real_create(*args)

    monkeypatch.setattr(cv2.FaceDetectorYN, "create", counted)
    img, ran = photo("astronaut"), []

    def count(_):
        ran.append(threading.get_ident())
        return FaceTagger().count(img)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(count, range(12)))
    assert results == [1] * 12
    # Each thread loads its own detector once, however many images it looks at.
    assert sorted(created) == sorted(set(ran))


def test_the_model_ships_with_its_licence():
    assert FaceTagger.MODEL.parent == Path(taggers.__file__).resolve().parent / "models"
    assert FaceTagger.MODEL.stat().st_size == 232589
    licence = (FaceTagger.MODEL.parent / "LICENSE-yunet").read_text()
    assert "MIT License" in licence and "opencv_zoo" in licence


def test_faces_are_off_without_yunet(monkeypatch, caplog):
    import cv2

    monkeypatch.delattr(cv2, "FaceDetectorYN")
    with caplog.at_level(logging.WARNING, logger="momento.media.taggers"):
        assert [t.name for t in available_taggers(["color", "faces"])] == ["color"]
    assert "'faces' is off" in caplog.text and "FaceDetectorYN" in caplog.text


def test_default_taggers():
    assert [t.name for t in available_taggers()] == ["color", "faces"]


@pytest.mark.parametrize("names", [["faces"], "faces", " faces, ", ["faces", "faces"]])
def test_taggers_by_name(names):
    assert [t.name for t in available_taggers(names)] == ["faces"]


def test_no_taggers():
    assert available_taggers([]) == []


def test_unknown_tagger_is_refused():
    with pytest.raises(ValueError, match=r"Unknown content tagger\(s\): sky.*known ones are color, faces"):
        available_taggers(["color", "sky"])


def test_tagger_without_its_library_is_skipped(monkeypatch, caplog):
    def needs_torch():
        raise ImportError("No module named 'torch'")

    monkeypatch.setitem(taggers.TAGGERS, "objects", needs_torch)
    with caplog.at_level(logging.WARNING, logger="momento.media.taggers"):
        assert [t.name for t in available_taggers(["objects", "color"])] == ["color"]
    assert "'objects' is off" in caplog.text and "torch" in caplog.text


class Fixed:
    """A tagger that always says the same thing."""

    def __init__(self, name: str, tags: list[str]) -> None:
        """Remember the name and the tags."""
        self.name, self._tags = name, tags

    def tags(self, image):
        """The fixed tags."""
        return self._tags


class Broken:
    """A tagger that fails, eagerly or while its generator runs."""

    def __init__(self, lazy: bool) -> None:
        """Choose when to fail."""
        self.name, self.lazy = "broken", lazy

    def tags(self, image):
        """Raise now, or on the second tag."""
        if not self.lazy:
            raise RuntimeError("model exploded")
        return (tag for tag in ["half", 1 / 0])


@pytest.mark.parametrize("lazy", [False, True])
def test_content_tags_skips_a_failing_tagger(lazy, caplog):
    chain = [Fixed("a", ["color:red", "people"]), Broken(lazy), Fixed("b", ["people", "sky"])]
    with caplog.at_level(logging.WARNING, logger="momento.media.taggers"):
        assert content_tags(Image.new("RGB", (8, 8)), chain) == ("color:red", "people", "sky")
    assert "'broken' failed" in caplog.text


def test_content_tags_with_the_real_taggers():
    tags = content_tags(photo("astronaut").convert("L"), available_taggers())
    assert "people" in tags and all(t.startswith("color:") for t in tags if t != "people")


def test_thumbnail_bytes_decode_to_rgb():
    out = io.BytesIO()
    Image.new("L", (1024, 600), 90).save(out, "JPEG")
    img = image_from_thumbnail(out.getvalue())
    assert img.mode == "RGB" and max(img.size) <= 512
    webp = image_from_thumbnail(encode_webp(Image.new("RGB", (300, 200), (1, 2, 3))))
    assert (webp.mode, webp.size) == ("RGB", (300, 200))
