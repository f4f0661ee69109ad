"""Tests for sarcomp.codec.classic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sarcomp.codec import classic as codecs
from sarcomp.codec.classic import JPEG, JPEG2000, JPEGXL, Codec, WebP


def smooth_image(shape: tuple[int, int] = (96, 128)) -> np.ndarray:
    """Smooth float image in [0.1, 0.9] with some structure in both directions."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 0.5 + 0.4 * np.sin(x / 9.0) * np.cos(y / 13.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


AVAILABLE = [name for name in codecs.CODECS if codecs.CODECS[name].available()]
HIGH_QUALITY = {"jpeg": 95, "jpeg2000": 1.0, "webp": 100, "jpegxl": 0.1}
LOW_AND_HIGH = {"jpeg": (10, 90), "jpeg2000": (200.0, 4.0), "webp": (10, 90), "jpegxl": (10.0, 0.5)}


@pytest.mark.parametrize("name", AVAILABLE)
def test_round_trip_at_high_quality(name: str) -> None:
    codec = codecs.build_codec(name)
    image = smooth_image()
    result = codec.run(image, HIGH_QUALITY[name])
    assert result.recon.shape == image.shape
    assert result.recon.dtype == np.float64
    assert result.recon.min() >= 0.0 and result.recon.max() <= 1.0
    assert psnr(image, result.recon) > 40.0
    assert result.bpp == pytest.approx(8 * result.num_bytes / image.size)
    assert result.encode_s >= 0 and result.decode_s >= 0


@pytest.mark.parametrize("name", ["jpeg", "jpeg2000"])
def test_rate_is_monotone_in_param(name: str) -> None:
    codec = codecs.build_codec(name)
    low, high = codec.param_range
    params = np.linspace(low, high, 8) if name == "jpeg" else np.geomspace(low, 200.0, 8)
    sizes = [r.num_bytes for r in codecs.rate_sweep(codec, smooth_image((128, 128)), params)]
    if not codec.higher_param_is_higher_rate:
        sizes = sizes[::-1]
    assert all(a <= b for a, b in itertools.pairwise(sizes))
    assert sizes[0] < sizes[-1]


@pytest.mark.parametrize("name", AVAILABLE)
def test_higher_rate_param_gives_more_bytes_and_quality(name: str) -> None:
    codec = codecs.build_codec(name)
    image = smooth_image()
    low, high = (codec.run(image, p) for p in LOW_AND_HIGH[name])
    assert low.num_bytes < high.num_bytes
    assert psnr(image, low.recon) < psnr(image, high.recon)


def test_encode_at_bpp_continuous_jpeg2000_within_tolerance() -> None:
    # OpenJPEG's rate control moves in coding-pass steps, too coarse on tiny
    # images for a 2 % tolerance; 256x256 with some texture is fine enough.
    noise = 0.05 * np.random.default_rng(0).standard_normal((256, 256))
    image = np.clip(smooth_image((256, 256)) + noise, 0.0, 1.0)
    for target in (0.5, 1.0, 2.0):
        result = codecs.encode_at_bpp(JPEG2000(), image, target, tol=0.02)
        assert abs(result.bpp - target) <= 0.02 * target


def test_encode_at_bpp_integer_jpeg_is_nearest_achievable() -> None:
    codec = JPEG()
    image = smooth_image((128, 128))
    target = 1.0
    result = codecs.encode_at_bpp(codec, image, target)
    assert float(result.param).is_integer()
    all_bpp = [r.bpp for r in codecs.rate_sweep(codec, image, range(1, 96))]
    assert abs(result.bpp - target) == pytest.approx(min(abs(b - target) for b in all_bpp))


def test_encode_at_bpp_out_of_range_returns_range_end() -> None:
    codec = JPEG()
    image = smooth_image((64, 64))
    assert codecs.encode_at_bpp(codec, image, 1000.0).param == 95
    assert codecs.encode_at_bpp(codec, image, 1e-4).param == 1


def test_jpeg2000_16_bit_beats_8_bit_at_high_rate() -> None:
    image = smooth_image()
    recon8 = JPEG2000(bits=8).run(image, 1.0).recon
    recon16 = JPEG2000(bits=16).run(image, 1.0).recon
    assert psnr(image, recon16) > psnr(image, recon8) + 20.0


@pytest.mark.skipif(not JPEGXL.available(), reason="imagecodecs with JPEG XL not installed")
def test_jpegxl_16_bit_beats_8_bit_at_high_rate() -> None:
    image = smooth_image()
    recon8 = JPEGXL(bits=8).run(image, 0.05).recon
    recon16 = JPEGXL(bits=16).run(image, 0.05).recon
    assert psnr(image, recon16) > psnr(image, recon8)


@pytest.mark.parametrize("name", AVAILABLE)
def test_corrupted_bytes_raise_one_line_value_error(name: str) -> None:
    codec = codecs.build_codec(name)
    data = codec.encode(smooth_image(), HIGH_QUALITY[name])
    for bad in (data[: len(data) // 2], b"\x00" * 64, b""):
        with pytest.raises(ValueError, match=codec.name) as info:
            codec.decode(bad, (96, 128))
        assert "\n" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_decode_with_wrong_shape_raises() -> None:
    codec = JPEG()
    data = codec.encode(smooth_image(), 90)
    with pytest.raises(ValueError, match="shape"):
        codec.decode(data, (128, 96))


def test_decode_rejects_other_formats() -> None:
    data = JPEG().encode(smooth_image(), 90)
    with pytest.raises(ValueError, match="JPEG2000"):
        JPEG2000().decode(data, (96, 128))


def test_unknown_codec_name_lists_known_names() -> None:
    with pytest.raises(ValueError, match="jpeg2000") as info:
        codecs.build_codec("bpg")
    for name in codecs.CODECS:
        assert name in str(info.value)


def test_build_codec_is_case_insensitive_and_passes_kwargs() -> None:
    codec = codecs.build_codec("JPEG2000", bits=16)
    assert isinstance(codec, JPEG2000) and codec.bits == 16


def test_unsupported_bit_depth_raises() -> None:
    with pytest.raises(ValueError, match="bits"):
        JPEG(bits=16)


def test_param_out_of_range_and_bad_images_raise() -> None:
    codec = JPEG()
    with pytest.raises(ValueError, match="quality"):
        codec.encode(smooth_image(), 100)
    with pytest.raises(TypeError, match="float"):
        codec.encode((smooth_image() * 255).astype(np.uint8), 50)
    with pytest.raises(ValueError, match="2-D"):
        codec.encode(np.zeros((4, 4, 3)), 50)
    with pytest.raises(ValueError, match="non-finite"):
        codec.encode(np.full((4, 4), np.nan), 50)


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("bits", [8, 16])
def test_small_odd_sizes(name: str, bits: int) -> None:
    codec_class = codecs.CODECS[name]
    if bits not in codec_class.supported_bits:
        pytest.skip(f"{name} has no {bits}-bit mode")
    image = smooth_image((37, 53))
    result = codec_class(bits=bits).run(image, HIGH_QUALITY[name])
    assert result.recon.shape == (37, 53)
    assert psnr(image, result.recon) > 30.0


def test_available_codecs_always_has_pillow_builtins() -> None:
    names = codecs.available_codecs()
    assert {"jpeg", "jpeg2000"} <= set(names)
    assert ("webp" in names) == WebP.available()
    assert ("jpegxl" in names) == JPEGXL.available()


def test_all_codecs_implement_the_interface() -> None:
    for codec_class in codecs.CODECS.values():
        assert issubclass(codec_class, Codec)
        low, high = codec_class.param_range
        assert low < high
        assert codec_class.name.lower() in codecs.CODECS
