"""What one benchmark run measures: the full settings and the ``--quick`` ones (tiny, for tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from sarcomp.config import CONFIG_DIR, experiment_names, register_resolvers

BASELINE = "baseline"
VARIANTS = {"baseline": "V0", "cbam_bottleneck": "V1", "cbam_everywhere": "V2", "selfattn_bottleneck": "V3"}


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and repeat counts; the model, tile and batch come from each experiment's config."""

    quick: bool = False
    experiments: tuple[str, ...] = field(default_factory=lambda: tuple(experiment_names()))
    overrides: tuple[str, ...] = ()  # Hydra overrides applied to every experiment
    warmup: int = 1
    repeats: int = 5
    train_repeats: int = 7  # rounds over all experiments (the ratios are noisy on a shared CPU)
    codec_tiles: int = 4  # test tiles coded one at a time by each codec
    scene_size: int = 512  # synthetic GeoTIFF scenes for the codec and loader sections
    attention_sides: tuple[int, ...] = (16, 32, 64, 128)  # maps of side² tokens
    attention_channels: int = 192  # the default latent width (where V3 attends)
    attention_repeats: int = 3  # the explicit 128² matrix takes seconds per call
    loader_batches: int = 12
    loader_workers: tuple[int, ...] = (0, 1, 2)
    whole_scene_size: int | None = 8192
    whole_scene_model: str | None = None  # model reference passed to measure_whole_scene
    shipped_models: bool = True  # also time the zoo's trained models in the codec section

    @classmethod
    def for_mode(cls, quick: bool, **kwargs) -> BenchSettings:
        if not quick:
            return cls(**kwargs)
        tiny = {
            "quick": True,
            "experiments": tuple(VARIANTS),
            "overrides": ("debug=smoke",),
            "warmup": 1,
            "repeats": 2,
            "train_repeats": 2,
            "codec_tiles": 2,
            "scene_size": 64,
            "attention_sides": (4, 8),
            "attention_channels": 16,
            "attention_repeats": 2,
            "loader_batches": 3,
            "loader_workers": (0, 1),
            "whole_scene_size": None,
            "shipped_models": False,
        }
        return cls(**{**tiny, **kwargs})


def compose_experiment(name: str, overrides: tuple[str, ...] = ()) -> DictConfig:
    """The composed ``train.yaml`` of one experiment, with ``overrides``, resolved."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=[f"experiment={name}", *overrides])


def label(name: str) -> str:
    """``V2 cbam_everywhere`` for the design's variants, the experiment name otherwise."""
    return f"{VARIANTS[name]} {name}" if name in VARIANTS else name
