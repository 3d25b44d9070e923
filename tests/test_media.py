"""The pure media helpers: sniffing, photo and video inspection, thumbnails, filenames."""
from __future__ import annotations

import io
import struct
import warnings

import av
import pytest
from PIL import Image, TiffImagePlugin

from momento.errors import Unprocessable, Unsupported
from momento.media import SNIFF_BYTES, MediaInfo, Sniffed, inspect, placeholder_thumbnail, sniff
from momento.media import videos
from momento.media.filenames import clean_filename
from tests import corpus

RED, BLUE = corpus.RED, corpus.BLUE


@pytest.fixture
def examine(tmp_path):
    """Write bytes to a file, sniff its head and inspect it, as the pipeline does."""
    def run(data: bytes, sniffed: Sniffed | None = None, **kwargs) -> MediaInfo:
        """Inspect `data` as an upload (sniffed from its head unless given)."""
        path = tmp_path / "upload.bin"
        path.write_bytes(data)
        return inspect(str(path), sniffed or sniff(data[:SNIFF_BYTES]), **kwargs)
    return run


def thumb(info: MediaInfo) -> Image.Image:
    """The decoded thumbnail, checked to be a WebP at most 512 px."""
    img = Image.open(io.BytesIO(info.thumbnail))
    assert img.format == "WEBP" and info.thumb_mime == "image/webp" and info.thumb_ext == "webp"
    assert max(img.size) <= 512
    return img.convert("RGB")


def near(pixel, colour, tolerance=30) -> bool:
    """Whether two RGB colours are close (lossy codecs shift them a little)."""
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def top_and_bottom(img: Image.Image):
    """The colours a quarter of the way down and three quarters down the middle column."""
    return img.getpixel((img.width // 2, img.height // 4)), img.getpixel((img.width // 2, img.height * 3 // 4))


# --- sniffing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make,expected", [
    (corpus.jpeg, ("photo", "image/jpeg", "jpg")),
    (corpus.png, ("photo", "image/png", "png")),
    (corpus.webp, ("photo", "image/webp", "webp")),
    (corpus.gif_animated, ("photo", "image/gif", "gif")),
    (corpus.heic, ("photo", "image/heic", "heic")),
    (corpus.mpo, ("photo", "image/jpeg", "jpg")),
    (corpus.mp4, ("video", "video/mp4", "mp4")),
    (corpus.mov, ("video", "video/quicktime", "mov")),
    (corpus.webm, ("video", "video/webm", "webm")),
])
def test_sniff_accepts(make, expected):
    assert SNIFF_BYTES == 8192
    assert sniff(make()[:SNIFF_BYTES]) == Sniffed(*expected)


@pytest.mark.parametrize("make,named", [
    (corpus.text_as_jpg, "text/plain"), (corpus.html, "text/html"), (corpus.shell_script, "shellscript"),
    (corpus.pdf, "application/pdf"), (corpus.zip_file, "application/zip"), (corpus.svg, "image/svg"),
    (corpus.mkv, "x-matroska"), (corpus.avif, "avif"), (lambda: b"", "empty"),
])
def test_sniff_refuses_with_a_readable_message(make, named):
    with pytest.raises(Unsupported) as caught:
        sniff(make()[:SNIFF_BYTES])
    assert caught.value.status == 415 and caught.value.code == "unsupported_media_type"
    assert named in caught.value.message and "not a photo or video" in caught.value.message


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    """The head of an ISO-BMFF file with these brands."""
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + struct.pack(">I", 8) + b"free" + bytes(64)


@pytest.mark.parametrize("head,expected", [
    (_ftyp(b"heic", b"mif1", b"heic"), Sniffed("photo", "image/heic", "heic")),
    (_ftyp(b"heix", b"mif1", b"heix"), Sniffed("photo", "image/heic", "heic")),
    (_ftyp(b"mif1", b"mif1", b"heic"), Sniffed("photo", "image/heif", "heif")),
    (_ftyp(b"mif1", b"mif1", b"avif"), None),
    (_ftyp(b"avif", b"mif1", b"avif"), None),
])
def test_sniff_heif_family_by_brand(head, expected):
    if expected is None:
        with pytest.raises(Unsupported):
            sniff(head)
    else:
        assert sniff(head) == expected


def test_webm_is_told_from_matroska_by_doctype():
    data = corpus.webm()
    assert data.find(b"webm", 0, 64) > 0
    # Same EBML structure, other DocType of the same length: libmagic says Matroska, refused.
    forged = data.replace(b"\x42\x82\x84webm", b"\x42\x82\x84mkvx", 1)
    with pytest.raises(Unsupported):
        sniff(forged[:SNIFF_BYTES])


# --- photos -----------------------------------------------------------------------------------

def test_jpeg_exif_date_offset_camera_gps(examine):
    info = examine(corpus.jpeg(exif_date="2021:06:01 14:34:56", offset="+02:00", make="Canon\x00",
                               model="  EOS R6 \x00", gps=(48.8583, -2.2945, -12.5)))
    assert (info.kind, info.mime, info.ext, info.width, info.height) == ("photo", "image/jpeg", "jpg", 64, 48)
    assert info.taken_at == "2021-06-01T12:34:56Z"
    assert (info.camera_make, info.camera_model) == ("Canon", "EOS R6")
    assert info.gps["lat"] == pytest.approx(48.8583, abs=1e-4)
    assert info.gps["lon"] == pytest.approx(-2.2945, abs=1e-4)
    assert info.gps["alt"] == pytest.approx(-12.5)
    assert info.duration is None and info.extra == {"format": "JPEG", "animated": False, "frames": 1}


def test_exif_local_time_without_offset_and_southern_hemisphere(examine):
    info = examine(corpus.jpeg(exif_date="2019:12:31 23:59:58", offset="-05:30", gps=(-33.8568, 151.2153)))
    assert info.taken_at == "2020-01-01T05:29:58Z"
    assert info.gps == {"lat": pytest.approx(-33.8568, abs=1e-4), "lon": pytest.approx(151.2153, abs=1e-4)}
    assert examine(corpus.jpeg(exif_date="2019:12:31 23:59:58")).taken_at == "2019-12-31T23:59:58Z"
    assert examine(corpus.jpeg()).taken_at is None and examine(corpus.jpeg()).gps is None


def _jpeg_with(exif: Image.Exif) -> bytes:
    """A small JPEG carrying hand-made (possibly nonsense) EXIF."""
    out = io.BytesIO()
    Image.new("RGB", (32, 24), RED).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_exif_datetime_fallback(examine):
    exif = Image.Exif()
    exif[0x0132] = "2018:05:06 07:08:09"
    assert examine(_jpeg_with(exif)).taken_at == "2018-05-06T07:08:09Z"


def test_bad_exif_is_ignored_not_fatal(examine):
    exif = Image.Exif()
    exif[0x010F] = "\x00\x00  "
    exif[0x0112] = 42
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    exif.get_ifd(0x8769)[0x9011] = "+99:99"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (TiffImagePlugin.IFDRational(1, 0), 0.0, 0.0)
    gps[3], gps[4] = "E", (200.0, 0.0, 0.0)
    info = examine(_jpeg_with(exif))
    assert (info.taken_at, info.camera_make, info.gps) == (None, None, None)
    assert (info.width, info.height) == (32, 24)


@pytest.mark.parametrize("make,orientation", [
    (corpus.jpeg, 6), (corpus.jpeg, 8), (corpus.jpeg, 3), (corpus.jpeg, 5), (corpus.png, 6), (corpus.webp, 8),
])
def test_orientation_swaps_size_and_thumbnail_is_upright(examine, make, orientation):
    data = make(64, 48, orientation=orientation)
    stored = Image.open(io.BytesIO(data)).size
    assert stored == ((48, 64) if orientation in (5, 6, 7, 8) else (64, 48))
    info = examine(data)
    assert (info.width, info.height) == (64, 48)
    img = thumb(info)
    assert img.size == (64, 48)
    top, bottom = top_and_bottom(img)
    assert near(top, RED) and near(bottom, BLUE)


def test_heic_decodes_with_exif(examine):
    info = examine(corpus.heic(80, 60, orientation=6, exif_date="2024:02:03 04:05:06", make="Apple",
                               model="iPhone 15 Pro", gps=(37.3349, -122.009)))
    assert (info.mime, info.ext, info.extra["format"]) == ("image/heic", "heic", "HEIF")
    assert (info.width, info.height) == (80, 60)
    assert info.taken_at == "2024-02-03T04:05:06Z"
    assert (info.camera_make, info.camera_model) == ("Apple", "iPhone 15 Pro")
    assert info.gps["lon"] == pytest.approx(-122.009, abs=1e-4)
    top, bottom = top_and_bottom(thumb(info))
    assert near(top, RED) and near(bottom, BLUE)


@pytest.mark.parametrize("size,expected", [((1600, 1200), (512, 384)), ((300, 1000), (154, 512)),
                                           ((2400, 1600), (512, 341)), ((40, 30), (40, 30))])
def test_thumbnail_fits_512_without_upscaling(examine, size, expected):
    img = thumb(examine(corpus.jpeg(*size)))
    assert img.size == expected
    top, bottom = top_and_bottom(img)
    assert near(top, RED) and near(bottom, BLUE)


def test_png_with_alpha_gets_white_background(examine):
    top, bottom = top_and_bottom(thumb(examine(corpus.png_rgba())))
    assert near(top, (255, 255, 255), 8) and near(bottom, BLUE)


def test_sixteen_bit_png_is_scaled_not_clipped(examine):
    top, _ = top_and_bottom(thumb(examine(corpus.png16(level=32768))))
    assert near(top, (128, 128, 128), 6)


def test_animated_gif_counts_frames_and_thumbnails_the_first(examine):
    info = examine(corpus.gif_animated(frames=3))
    assert info.extra == {"format": "GIF", "animated": True, "frames": 3}
    top, bottom = top_and_bottom(thumb(info))
    assert near(top, (200, 30, 30)) and near(bottom, (200, 30, 30))


def test_gif_broken_in_a_later_frame_is_refused(examine):
    data = corpus.truncated(corpus.gif_animated(3, 200, 150), keep=0.9)
    first = Image.open(io.BytesIO(data))
    first.load()  # frame one is intact: only decoding every frame finds the damage
    with pytest.raises(Unprocessable):
        examine(data)


def test_mpo_is_a_multi_frame_jpeg(examine):
    info = examine(corpus.mpo())
    assert (info.mime, info.extra) == ("image/jpeg", {"format": "MPO", "animated": True, "frames": 2})


@pytest.mark.parametrize("make", [lambda: corpus.jpeg(400, 300), lambda: corpus.png(400, 300),
                                  lambda: corpus.webp(400, 300),
                                  lambda: corpus.heic(400, 300)])
def test_truncated_photo_is_422(examine, make):
    with pytest.raises(Unprocessable) as caught:
        examine(corpus.truncated(make(), keep=0.6))
    assert caught.value.status == 422 and caught.value.code == "corrupt_media"
    assert "damaged or incomplete" in caught.value.message and "/" not in caught.value.message


def test_polyglot_gif_is_422(examine):
    with pytest.raises(Unprocessable):
        examine(corpus.polyglot_gif_js())


def test_jpeg_with_zip_appended_is_accepted_as_its_picture(examine):
    assert examine(corpus.jpeg_with_zip_appended()).extra["format"] == "JPEG"


def test_decoder_must_agree_with_sniff(examine):
    with pytest.raises(Unprocessable):
        examine(corpus.jpeg(), Sniffed("photo", "image/png", "png"))


@pytest.mark.parametrize("size", [(30000, 30000), (10000, 10000)])
def test_decompression_bomb_is_refused(examine, size):
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as leaked, pytest.raises(Unprocessable) as caught:
        warnings.simplefilter("always")
        examine(corpus.decompression_bomb_png(*size))
    assert caught.value.status == 422 and caught.value.code == "too_many_pixels"
    assert not [w for w in leaked if issubclass(w.category, Image.DecompressionBombWarning)]
    assert warnings.filters == filters


def test_pixel_limit_is_exact(examine):
    assert examine(corpus.jpeg(100, 100), max_pixels=10_000).width == 100
    with pytest.raises(Unprocessable) as caught:
        examine(corpus.jpeg(100, 100), max_pixels=9_999)
    assert caught.value.code == "too_many_pixels"


def test_placeholders_are_webp_and_differ():
    video, photo = placeholder_thumbnail("video"), placeholder_thumbnail("photo")
    img = Image.open(io.BytesIO(video))
    assert img.format == "WEBP" and img.size == (512, 288) and video != photo


# --- videos -----------------------------------------------------------------------------------

def assert_poster(info: MediaInfo, at: float, size: tuple[int, int]) -> None:
    """The poster is upright, the requested size, and shows the frame at about `at` seconds."""
    assert info.thumbnail != placeholder_thumbnail("video")
    img = thumb(info)
    assert img.size == size
    top, bottom = top_and_bottom(img)
    grey = corpus.poster_grey(at)
    assert near(top, (grey, grey, grey), 12), (top, grey)
    assert near(bottom, BLUE, 40)


def test_mp4_with_moov_at_end(examine):
    data = corpus.mp4(seconds=3)
    assert data.find(b"moov") > data.find(b"mdat") > 0
    info = examine(data)
    assert (info.kind, info.mime, info.ext, info.width, info.height) == ("video", "video/mp4", "mp4", 160, 120)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert info.extra["container"] == "mp4" and info.extra["video_codec"] == "h264"
    assert info.extra["audio_codec"] == "aac" and info.extra["has_audio"] is True
    assert info.extra["rotation"] == 0 and info.extra["fps"] == pytest.approx(10)
    assert info.extra["bit_rate"] > 0
    assert_poster(info, 1.0, (160, 120))


def test_faststart_mp4_and_no_audio(examine):
    data = corpus.mp4(faststart=True, audio=False)
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    info = examine(data)
    assert info.extra["has_audio"] is False and info.extra["audio_codec"] is None
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_short_clip_poster_is_from_the_middle(examine):
    assert_poster(examine(corpus.mp4(seconds=1.2)), 0.6, (160, 120))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_mov_rotation_creation_time_and_location(examine, rotation):
    info = examine(corpus.mov(rotation=rotation))
    assert (info.mime, info.ext, info.extra["container"]) == ("video/quicktime", "mov", "mov")
    assert info.extra["rotation"] == rotation
    size = (120, 160) if rotation in (90, 270) else (160, 120)
    assert (info.width, info.height) == size
    assert info.taken_at == "2022-08-09T10:11:12Z"
    assert info.gps == {"lat": pytest.approx(48.8583), "lon": pytest.approx(2.2945)}
    assert_poster(info, 1.0, size)


@pytest.mark.parametrize("tag,expected", [
    ("-33.8568+151.2153+005.000/", {"lat": -33.8568, "lon": 151.2153, "alt": 5.0}),
    ("+4851.4980+00217.6700/", {"lat": 48.8583, "lon": 2.29450}),
    ("nowhere", None),
])
def test_iso6709_locations(examine, tag, expected):
    gps = examine(corpus.mov(gps=tag)).gps
    assert gps == (None if expected is None else {k: pytest.approx(v, abs=1e-4) for k, v in expected.items()})


def test_webm_vp9_opus(examine):
    info = examine(corpus.webm())
    assert (info.mime, info.ext, info.width, info.height) == ("video/webm", "webm", 160, 120)
    assert (info.extra["video_codec"], info.extra["audio_codec"]) == ("vp9", "opus")
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert_poster(info, 1.0, (160, 120))
    assert examine(corpus.webm(audio=False)).extra["has_audio"] is False


def test_hevc_mp4(examine):
    info = examine(corpus.mp4(codec="hevc"))
    assert info.extra["video_codec"] == "hevc"
    assert_poster(info, 1.0, (160, 120))


@pytest.mark.parametrize("make", [
    lambda: corpus.truncated(corpus.mp4()),
    lambda: corpus.truncated(corpus.mp4(faststart=True), keep=0.7),
    lambda: corpus.truncated(corpus.mov(), keep=0.8),
    lambda: corpus.truncated(corpus.webm(seconds=3), keep=0.7),
    corpus.mp4_header_noise,
])
def test_broken_video_is_422(examine, make):
    with pytest.raises(Unprocessable) as caught:
        examine(make())
    assert caught.value.status == 422 and caught.value.code == "corrupt_media"


def test_video_without_video_stream_is_422(examine):
    with pytest.raises(Unprocessable, match="no video stream"):
        examine(corpus.mp4(codec=None), Sniffed("video", "video/mp4", "mp4"))


def test_video_container_must_agree_with_sniff_and_is_closed(examine, monkeypatch):
    data, opened, real_open = corpus.mp4(), [], av.open

    def spy(*args, **kwargs):
        """av.open, remembering what it opened."""
        opened.append(real_open(*args, **kwargs))
        assert len(opened[-1].streams) == 2
        return opened[-1]
    monkeypatch.setattr(videos.av, "open", spy)
    with pytest.raises(Unprocessable, match="WebM"):
        examine(data, Sniffed("video", "video/webm", "webm"))
    examine(data)
    assert len(opened) == 2 and all(len(c.streams) == 0 for c in opened)  # closing drops the streams


def test_video_pixel_limit(examine):
    with pytest.raises(Unprocessable) as caught:
        examine(corpus.mp4(), max_pixels=160 * 120 - 1)
    assert caught.value.code == "too_many_pixels"


# --- filenames --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,clean", [
    ("../../etc/passwd.jpg", "passwd.jpg"),
    ("a\u202egpj.exe", "agpj.exe"),
    ("con\x00trol\x07.jpg", "control.jpg"),
    ("  .hidden.jpg", "hidden.jpg"),
    ("C:\\Users\\x\\photo.jpg", "photo.jpg"),
    ("\u2066zero\u200bwidth\u2069.png", "zerowidth.png"),
    ("Cafe\u0301.jpg", "Caf\u00e9.jpg"),
    ("holiday photo.jpg\u2028", "holiday photo.jpg"),
    ("x" * 1000 + ".jpg", "x" * 196 + ".jpg"),
    ("y" * 300, "y" * 200),
    ("...", "upload"), ("", "upload"), (None, "upload"), ("dir/", "upload"),
])
def test_clean_filename(raw, clean):
    assert clean_filename(raw) == clean


def test_clean_filename_fallback_and_corpus_names():
    assert clean_filename("\u202e", fallback="video") == "video"
    for name in corpus.odd_filenames():
        clean = clean_filename(name)
        assert clean and len(clean) <= 200 and "/" not in clean and "\\" not in clean
        assert not any(ord(c) < 32 or 0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in clean)
