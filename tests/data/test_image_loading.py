"""load_image / check_image / crop_padded on every awkward kind of image file."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benthos.data import check_image, crop_padded, image_size, load_image
from benthos.data import images as images_mod
from benthos.errors import DataError


@pytest.mark.parametrize("mode,fmt,color", [
    ("L", "PNG", 128), ("RGBA", "PNG", (10, 20, 30, 128)), ("CMYK", "JPEG", (0, 0, 0, 0)),
    ("P", "PNG", 3), ("1", "PNG", 1), ("LA", "PNG", (90, 255)), ("F", "TIFF", 0.5), ("RGB", "WEBP", (1, 2, 3)),
])
def test_any_mode_becomes_rgb(tmp_path, mk, mode, fmt, color):
    p = mk.image(tmp_path / f"x.{fmt.lower()}", mode=mode, color=color, fmt=fmt)
    im = load_image(p)
    assert im.mode == "RGB" and im.size == (32, 24)
    assert check_image(p) == (32, 24)


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0] * 256)
    im.info["transparency"] = 0
    im.save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").getpixel((0, 0)) == (255, 0, 0)


def test_16bit_keeps_full_scale(tmp_path):
    arr = np.array([[0, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "d.png")
    px = [load_image(tmp_path / "d.png").getpixel((i, 0))[0] for i in range(3)]
    assert px == [0, 128, 255]  # not clipped to white as a plain convert("RGB") would
    Image.fromarray(np.array([[0, 2570]], dtype=np.uint16)).save(tmp_path / "dark.png")
    assert load_image(tmp_path / "dark.png").getpixel((1, 0)) == (10, 10, 10)  # same scale, not stretched


def test_exif_rotation_applied(tmp_path, mk):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    p = mk.image(tmp_path / "r.jpg", size=(40, 20), fmt="JPEG", exif=exif)
    assert load_image(p).size == (20, 40)
    assert image_size(p) == (20, 40) and check_image(p) == (20, 40)


def test_truncated_jpeg(tmp_path, mk):
    p = mk.truncated(tmp_path / "t.jpg")
    for fn in (load_image, check_image):
        with pytest.raises(DataError, match=r"t\.jpg.*truncated"):
            fn(p)


def test_zero_byte_and_garbage_and_missing(tmp_path):
    (tmp_path / "z.jpg").write_bytes(b"")
    (tmp_path / "g.jpg").write_bytes(b"this is not a jpeg at all")
    with pytest.raises(DataError, match=r"z\.jpg.*empty \(0 bytes\)"):
        load_image(tmp_path / "z.jpg")
    with pytest.raises(DataError, match=r"g\.jpg.*not an image"):
        check_image(tmp_path / "g.jpg")
    with pytest.raises(DataError, match=r"nope\.jpg.*no such image"):
        load_image(tmp_path / "nope.jpg")


def test_decompression_bomb(tmp_path, mk, monkeypatch):
    p = mk.bomb(tmp_path / "bomb.png")
    with pytest.raises(DataError, match=r"bomb\.png.*decompression-bomb"):
        load_image(p)
    ok = mk.image(tmp_path / "ok.png", size=(100, 100))
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 5000)  # our own limit, below Pillow's
    with pytest.raises(DataError, match="100x100"):
        check_image(ok)


def test_crop_padded_inside_and_outside():
    im = Image.new("RGB", (10, 10), (100, 50, 0))
    assert crop_padded(im, (2, 2, 6, 8)).size == (4, 6)
    out = crop_padded(im, (-5, -5, 5, 5), pad="zero")
    assert out.size == (10, 10) and out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((9, 9)) == (100, 50, 0)
    im.paste((200, 150, 100), (0, 0, 10, 5))
    mean = crop_padded(im, (8, 8, 14, 14), pad="mean")
    assert mean.getpixel((5, 5)) == (150, 100, 50)  # the image's mean colour


def test_min_side_decodes_large_jpegs_at_reduced_scale_and_still_catches_truncation(tmp_path):
    from benthos.data.images import load_image

    rng = np.random.default_rng(0)
    big = tmp_path / "big.jpg"
    Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(big, quality=90)
    assert load_image(big).size == (1600, 1200)
    assert load_image(big, min_side=300).size == (400, 300)   # 1/4 scale: both sides stay >= 300
    assert load_image(big, min_side=700).size == (1600, 1200)  # 1/2 would leave 600 < 700: whole
    png = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(png)
    assert load_image(png, min_side=300).size == (1600, 1200)  # only JPEGs have DCT scaling
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated"):
        load_image(cut, min_side=300)
