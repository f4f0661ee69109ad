"""Classic image codecs (JPEG, JPEG 2000, WebP, JPEG XL) behind one small interface.

Images are float (H, W) arrays in [0, 1]. Each codec quantises them to unsigned
8- or 16-bit integers (``bits``), encodes, and decodes back to float [0, 1].
Rates are measured on the real encoded bytes: ``bpp = 8 * len(data) / (H * W)``
where ``data`` is the whole file/codestream as written, headers included
(JPEG: JFIF file; JPEG 2000: raw J2K codestream without the JP2 box wrapper;
WebP: RIFF file; JPEG XL: bare codestream). Nothing is added for the shape,
which the caller keeps.

JPEG 2000 with ``bits=16`` carries 16-bit samples through Pillow's "I;16" mode
(OpenJPEG's reversible 5/3 mode round-trips them bit exactly; the irreversible
mode used here keeps far more than 8 bits of precision at high rate).
"""

from __future__ import annotations

import io
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

try:
    import imagecodecs
except ImportError:  # optional dependency
    imagecodecs = None  # type: ignore[assignment]


@dataclass(frozen=True)
class CodecResult:
    """One encode/decode run: reconstruction, real encoded size, and timings."""

    recon: np.ndarray
    num_bytes: int
    bpp: float
    encode_s: float
    decode_s: float
    param: float


class Codec(ABC):
    """A lossy codec for float [0, 1] grayscale images, quantised to ``bits`` bits.

    ``param`` is the codec's rate knob (``param_name``) within ``param_range``;
    ``higher_param_is_higher_rate`` tells its direction, ``integer_param``
    whether only integers are meaningful, and ``log_param`` whether rate
    matching should search it on a log scale.
    """

    name: ClassVar[str]
    param_name: ClassVar[str]
    param_range: ClassVar[tuple[float, float]]
    higher_param_is_higher_rate: ClassVar[bool]
    integer_param: ClassVar[bool] = False
    log_param: ClassVar[bool] = False
    supported_bits: ClassVar[tuple[int, ...]] = (8,)
    backend: ClassVar[str]

    def __init__(self, bits: int = 8) -> None:
        if not self.available():
            raise RuntimeError(f"{self.name} is unavailable: needs {self.backend}")
        if bits not in self.supported_bits:
            raise ValueError(f"{self.name} supports bits in {self.supported_bits}, got {bits}")
        self.bits = bits

    @classmethod
    def available(cls) -> bool:
        """Whether the codec's backend is installed."""
        return True

    @property
    def _max_value(self) -> int:
        return (1 << self.bits) - 1

    def encode(self, image: np.ndarray, param: float) -> bytes:
        """Quantise a float [0, 1] image (values outside are clipped) and encode it."""
        array = np.asarray(image)
        if array.ndim != 2 or array.size == 0:
            raise ValueError(f"{self.name}: expected a non-empty 2-D image, got shape {array.shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"{self.name}: expected a float image in [0, 1], got dtype {array.dtype}")
        if not np.isfinite(array).all():
            raise ValueError(f"{self.name}: image contains non-finite values")
        low, high = self.param_range
        if not low <= param <= high:
            raise ValueError(f"{self.name}: {self.param_name}={param} outside [{low}, {high}]")
        dtype = np.uint8 if self.bits == 8 else np.uint16
        quantised = np.round(np.clip(array, 0.0, 1.0) * self._max_value).astype(dtype)
        return self._encode(quantised, param)

    def decode(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        """Decode to a float64 [0, 1] image; corrupt data raises a one-line ValueError."""
        try:
            quantised = self._decode(data)
        except Exception as error:  # backends raise many types (OSError, SyntaxError, ...)
            message = f"{self.name}: cannot decode {len(data)} bytes ({type(error).__name__}: {error})"
            raise ValueError(message) from None
        if quantised.shape != tuple(shape):
            raise ValueError(f"{self.name}: decoded shape {quantised.shape} != expected {tuple(shape)}")
        return quantised.astype(np.float64) / self._max_value

    def run(self, image: np.ndarray, param: float) -> CodecResult:
        """Encode and decode ``image`` at ``param``, timing both."""
        start = time.perf_counter()
        data = self.encode(image, param)
        encoded = time.perf_counter()
        recon = self.decode(data, image.shape)
        decoded = time.perf_counter()
        return CodecResult(
            recon=recon,
            num_bytes=len(data),
            bpp=8.0 * len(data) / image.size,
            encode_s=encoded - start,
            decode_s=decoded - encoded,
            param=param,
        )

    @abstractmethod
    def _encode(self, quantised: np.ndarray, param: float) -> bytes:
        """Encode an unsigned integer image."""

    @abstractmethod
    def _decode(self, data: bytes) -> np.ndarray:
        """Decode to an unsigned integer image of this codec's bit depth."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits})"


class _PillowCodec(Codec):
    """Codec backed by a Pillow plugin (``pil_format``)."""

    pil_format: ClassVar[str]
    pil_feature: ClassVar[str]
    decodes_to_rgb: ClassVar[bool] = False

    @classmethod
    def available(cls) -> bool:
        return bool(features.check(cls.pil_feature))

    @abstractmethod
    def _save_options(self, param: float) -> dict[str, Any]:
        """Keyword arguments for ``Image.save``."""

    def _encode(self, quantised: np.ndarray, param: float) -> bytes:
        buffer = io.BytesIO()
        options = self._save_options(param)
        Image.fromarray(quantised).save(buffer, format=self.pil_format, **options)
        return buffer.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data), formats=[self.pil_format]) as image:
            decoded = image.convert("L") if self.decodes_to_rgb else image
            expected_mode = "L" if self.bits == 8 else "I;16"
            if decoded.mode != expected_mode:
                raise ValueError(f"decoded mode {decoded.mode!r}, expected {expected_mode!r}")
            return np.asarray(decoded)


class JPEG(_PillowCodec):
    """Baseline JPEG (libjpeg via Pillow), 8-bit grayscale, optimised Huffman tables."""

    name = "JPEG"
    param_name = "quality"
    param_range = (1, 95)
    higher_param_is_higher_rate = True
    integer_param = True
    pil_format = "JPEG"
    pil_feature = "jpg"
    backend = "Pillow built with libjpeg"

    def _save_options(self, param: float) -> dict[str, Any]:
        return {"quality": int(round(param)), "optimize": True}


class JPEG2000(_PillowCodec):
    """JPEG 2000 (OpenJPEG via Pillow), irreversible 9/7 wavelet, one quality layer.

    ``param`` is OpenJPEG's compression ratio relative to the raw ``bits``-bit
    image (``quality_mode="rates"``, ``quality_layers=[ratio]``); ratio 1 keeps
    all coded data. Header overhead (~150 bytes) sets a floor on small images.
    """

    name = "JPEG2000"
    param_name = "ratio"
    param_range = (1.0, 2000.0)
    higher_param_is_higher_rate = False
    log_param = True
    supported_bits = (8, 16)
    pil_format = "JPEG2000"
    pil_feature = "jpg_2000"
    backend = "Pillow built with OpenJPEG"

    def _save_options(self, param: float) -> dict[str, Any]:
        return {
            "no_jp2": True,
            "irreversible": True,
            "quality_mode": "rates",
            "quality_layers": [float(param)],
        }


class WebP(_PillowCodec):
    """Lossy WebP (libwebp via Pillow), 8-bit; gray is coded as RGB (YUV 4:2:0), method 6."""

    name = "WebP"
    param_name = "quality"
    param_range = (0, 100)
    higher_param_is_higher_rate = True
    integer_param = True
    pil_format = "WEBP"
    pil_feature = "webp"
    backend = "Pillow built with libwebp"
    decodes_to_rgb = True

    def _save_options(self, param: float) -> dict[str, Any]:
        return {"quality": int(round(param)), "method": 6, "lossless": False}


class JPEGXL(Codec):
    """JPEG XL (libjxl via the optional ``imagecodecs`` package), 8 or 16 bits.

    ``param`` is the Butteraugli distance (0.05 near-lossless ... 25 very lossy).
    """

    name = "JPEGXL"
    param_name = "distance"
    param_range = (0.05, 25.0)
    higher_param_is_higher_rate = False
    log_param = True
    supported_bits = (8, 16)
    backend = "the optional imagecodecs package with JPEG XL support"

    @classmethod
    def available(cls) -> bool:
        return imagecodecs is not None and bool(imagecodecs.JPEGXL.available)

    def _encode(self, quantised: np.ndarray, param: float) -> bytes:
        return bytes(imagecodecs.jpegxl_encode(quantised, distance=float(param)))

    def _decode(self, data: bytes) -> np.ndarray:
        decoded = imagecodecs.jpegxl_decode(data)
        expected = np.uint8 if self.bits == 8 else np.uint16
        if decoded.dtype != expected or decoded.ndim != 2:
            raise ValueError(f"decoded {decoded.dtype} array of shape {decoded.shape}")
        return decoded


CODECS: dict[str, type[Codec]] = {codec.name.lower(): codec for codec in (JPEG, JPEG2000, WebP, JPEGXL)}


def available_codecs() -> list[str]:
    """Registry names of the codecs whose backend is installed."""
    return [name for name, codec in CODECS.items() if codec.available()]


def build_codec(name: str, **kwargs: Any) -> Codec:
    """Instantiate a codec by (case-insensitive) registry name, e.g. ``build_codec("jpeg2000", bits=16)``."""
    try:
        codec = CODECS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; known: {', '.join(CODECS)}") from None
    return codec(**kwargs)


def rate_sweep(codec: Codec, image: np.ndarray, params: Iterable[float]) -> list[CodecResult]:
    """Run ``codec`` on ``image`` at each parameter value."""
    return [codec.run(image, param) for param in params]


def encode_at_bpp(
    codec: Codec,
    image: np.ndarray,
    target_bpp: float,
    tol: float = 0.02,
    max_iter: int = 20,
) -> CodecResult:
    """Match a target rate by bisection on the codec parameter.

    Returns a run (encode, decode, timings) at the parameter whose bpp is closest
    to ``target_bpp`` (ties go to the lower rate); the search itself only encodes.
    ``tol`` is relative: a continuous-parameter search stops as soon as
    ``|bpp - target| <= tol * target`` (OpenJPEG's rate control moves in
    coding-pass steps, so on small images J2K may not get that close; the closest
    rate seen is returned after ``max_iter`` steps). Integer parameters (JPEG/WebP
    quality) are bisected over integers until the bracket is two adjacent values,
    so the result is the nearest achievable rate. Targets outside the codec's
    range return the nearest end of the range.
    """
    if target_bpp <= 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    low, high = codec.param_range
    if not codec.higher_param_is_higher_rate:
        low, high = high, low  # ``low`` is now the low-rate end
    rates: dict[float, float] = {}  # param -> bpp; the search only encodes, never decodes

    def rate(param: float) -> float:
        if param not in rates:
            rates[param] = 8.0 * len(codec.encode(image, param)) / np.asarray(image).size
        return rates[param]

    def closest() -> CodecResult:
        best = min(rates, key=lambda p: (abs(rates[p] - target_bpp), rates[p]))
        return codec.run(image, best)

    if rate(low) >= target_bpp or rate(high) <= target_bpp:
        return closest()
    for _ in range(max_iter):
        mid = _midpoint(codec, low, high)
        if mid in (low, high):
            break
        bpp = rate(mid)
        if abs(bpp - target_bpp) <= tol * target_bpp and not codec.integer_param:
            break
        if bpp < target_bpp:
            low = mid
        else:
            high = mid
    return closest()


def _midpoint(codec: Codec, a: float, b: float) -> float:
    """Midpoint of the bracket in the codec's search space (integer, log or linear)."""
    if codec.integer_param:
        return float((int(a) + int(b)) // 2)
    if codec.log_param:
        return float(math.sqrt(a * b))
    return (a + b) / 2.0
