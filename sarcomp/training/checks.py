"""Config checks that run when a training config is composed, before Hydra makes a run folder.

:class:`CheckConfig` is a Hydra callback (configs/hydra/default.yaml): its ``on_run_start`` sees
the composed config of a single run before the run folder exists, and a problem ends the command
with one ``error: ...`` line and exit status 2. ``train()`` runs the same checks again, so sweep
jobs and direct calls are covered too (their half-made folder is removed by train.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sarcomp.cli import run_cli
from sarcomp.data.loaders import complex_representation
from sarcomp.errors import SarcompError
from sarcomp.metrics.image import SSIM_WINDOW
from sarcomp.models.autoencoder import stride_of

log = logging.getLogger(__name__)


def model_stride(model_cfg: Mapping[str, Any]) -> int:
    """The stride of the model ``model_cfg`` describes, before it is built
    (:func:`~sarcomp.models.autoencoder.stride_of`)."""
    return stride_of(model_cfg.get("channels") or ())


def check_data_config(data: Mapping[str, Any]) -> None:
    """``data.root`` is set (``data=geotiff`` has no default folder)."""
    if data.get("root") in (None, "", "???"):
        raise SarcompError(
            "data.root is required with data=geotiff: the folder of your rasters "
            "(python train.py data=geotiff data.root=/path/to/scenes ...)"
        )


def check_tile_sizes(data: Mapping[str, Any], model_cfg: Mapping[str, Any]) -> None:
    """``data.tile_size`` and ``data.stride`` are positive multiples of the model's stride."""
    stride = model_stride(model_cfg)
    for key in ("tile_size", "stride"):
        value = data.get(key)
        if not isinstance(value, int) or value < stride or value % stride:
            near = max(stride, (int(value) // stride) * stride) if isinstance(value, int) else stride
            raise SarcompError(
                f"data.{key}={value}: must be a multiple of {stride}, the model's stride "
                f"(e.g. {near} or {near + stride})"
            )


def check_channels(data: Mapping[str, Any], model_cfg: Mapping[str, Any]) -> None:
    """``model.in_channels`` is the number of channels a data tile has: 1, or the channels of the
    ``data.complex`` representation (``model=complex`` with ``data=complex_synthetic``)."""
    complex_ = data.get("complex")
    expected = complex_representation(data).channels if complex_ else 1
    got = int(model_cfg.get("in_channels", 1))
    if got != expected:
        what = f"data.complex.form={complex_['form']} gives" if complex_ else "real-valued data give"
        hint = (
            f"model=complex{'' if expected == 2 else f' model.in_channels={expected}'}"
            if complex_
            else "a complex data config (data=complex_synthetic) or model=autoencoder"
        )
        raise SarcompError(f"model.in_channels={got}, but {what} {expected} channel(s) per tile; use {hint}")


LR_SCHEDULES = ("cosine", "constant")


def check_trainer_section(t: Mapping[str, Any]) -> None:
    """The ``trainer`` settings a run cannot start with: an unknown schedule, a count below 1."""
    if str(t["lr_schedule"]) not in LR_SCHEDULES:
        raise SarcompError(
            f"trainer.lr_schedule: unknown schedule {t['lr_schedule']!r}; valid: {', '.join(LR_SCHEDULES)}"
        )
    for key in (
        "max_steps",
        "accumulate",
        "log_every",
        "val_every",
        "checkpoint_every",
        "max_nonfinite_streak",
    ):
        if int(t[key]) < 1:
            raise SarcompError(f"trainer.{key}={t[key]}: must be at least 1")
    if t.get("keep_every") is not None and int(t["keep_every"]) < 1:
        raise SarcompError(f"trainer.keep_every={t['keep_every']}: must be at least 1 (or null)")


def check_train_config(cfg: DictConfig) -> None:
    """Every check of a composed ``train.yaml`` config (one-line :class:`SarcompError`)."""
    check_data_config(cfg.data)
    check_tile_sizes(cfg.data, cfg.model)
    check_channels(cfg.data, cfg.model)


class CheckConfig(Callback):
    """Hydra callback: check a single run's config before its run folder is made."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("task_name") == "train":
            run_cli(check_train_config, config)


def warn_small_validation_scenes(scenes: Sequence[Any], tile_size: int) -> None:
    """Say which validation scenes are smaller than a tile, and how validation scores them: their
    tiles are padded by reflection and the padding masked, so loss, PSNR and SSIM use their valid
    pixels only (SSIM is N/A, and left out of the mean, where no 11x11 window is all valid) while
    bpp counts the whole padded tile."""
    for scene in scenes:
        h, w = scene.info.height, scene.info.width
        if h >= tile_size and w >= tile_size:
            continue
        ssim = " SSIM is N/A for it (no 11x11 window);" if min(h, w) < SSIM_WINDOW else ""
        log.warning(
            "%s: validation scene of %dx%d px is smaller than data.tile_size=%d: its tiles are padded "
            "and the padding masked;%s its bpp counts the padded tile (a data.tile_size no larger than "
            "the scene, or larger validation scenes, validate on whole tiles)",
            scene.path,
            h,
            w,
            tile_size,
            ssim,
        )
