"""The trainer: plain PyTorch, one loop, resumable, on CPU, one GPU or several (torchrun).

Per optimiser step: ``accumulate`` micro-batches of λ·D + bpp (AMP on CUDA, the entropy model in
fp32), gradient clipping, Adam; then one step of the entropy model's auxiliary loss with its own
optimiser. A variable-rate model (``model.lmbdas``) trains at one λ drawn from its list per step
and is validated at each. Validation (forward pass, likelihood rate) every ``val_every`` steps writes
TensorBoard scalars and images and ``best.pt``; ``last.pt`` is written every
``checkpoint_every`` steps, at validation, on SIGTERM (and on submitit's preemption signal) and
at the end.

Resume is exact: a run killed at any point and restarted with ``trainer.resume=true`` continues
from its last checkpoint with the same weights, optimiser, scheduler and scaler state, the RNG
state of every rank, and the same position in the epoch's data; on CPU with ``num_workers=0``
the final weights equal those of an uninterrupted run bit for bit.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from sarcomp.data.identity import check_disjoint, check_same_data
from sarcomp.data.loaders import grid_loader, train_loader
from sarcomp.data.mix import training_data
from sarcomp.devices import pick_device
from sarcomp.errors import SarcompError
from sarcomp.fileio import remove_stale_temporaries, write_json
from sarcomp.host_memory import retain_freed_memory
from sarcomp.interpret.explain import log_validation_figures
from sarcomp.runs import (
    checkpoint_path,
    config_to_text,
    load_checkpoint,
    load_model_state,
    model_config_changes,
    read_scenes,
    save_checkpoint,
    scenes_path,
    tensorboard_dir,
)
from sarcomp.training.attention_log import log_attention, probe_tiles
from sarcomp.training.checks import check_train_config, check_trainer_section, warn_small_validation_scenes
from sarcomp.training.console import StepTimer, log_end, log_start
from sarcomp.training.distributed import DistContext, ShardSampler
from sarcomp.training.hparams import log_hparams
from sarcomp.training.signals import StopSignals
from sarcomp.training.state import Progress, rng_state, seed_everything, set_rng_state
from sarcomp.training.step import TrainStep
from sarcomp.training.validation import validation_sums, viewable

log = logging.getLogger(__name__)


class Trainer:
    """Owns the model, optimisers and loop of one run; see the module docstring."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path):
        self.cfg, self.t = cfg, cfg.trainer
        self.run_dir = Path(run_dir)
        check_trainer_section(self.t)
        self.ctx = DistContext.from_env()
        self.device = pick_device(self.t.device, "trainer.device", self.ctx.local_rank)
        self.ctx.join(self.device)
        if self.device.type == "cpu" and self.t.retain_host_memory:
            retain_freed_memory()  # no page faults on reused activations (sarcomp.host_memory)
        seed_everything(int(cfg.seed) + self.ctx.rank)
        resume_state = self._resume_state()  # refuses a used folder, checks the model config
        self._setup_model()  # a bad model config (e.g. unknown attention) fails before data is read

        # one source, or a weighted mix of several (data.sources, sarcomp.data.mix)
        self.dataset, self.train_scenes, self.val_scenes = training_data(cfg.data, int(cfg.seed))
        check_disjoint(self.train_scenes, self.val_scenes)
        warn_small_validation_scenes(self.val_scenes, int(cfg.data.tile_size))
        if resume_state is not None:  # the same data, by content hash, or no resume
            check_same_data(read_scenes(self.run_dir), self._scene_records(), str(scenes_path(self.run_dir)))
        self.val_loader = grid_loader(
            cfg.data,
            self.val_scenes,
            max_tiles=self.t.val_max_tiles,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        per_rank = len(self.dataset) // self.ctx.world_size
        self.steps_per_epoch = per_rank // cfg.data.batch_size // self.t.accumulate
        if self.steps_per_epoch < 1:
            raise SarcompError(
                f"data.train_samples={cfg.data.train_samples} is too small for one step of "
                f"batch_size={cfg.data.batch_size} x accumulate={self.t.accumulate}"
                f" x {self.ctx.world_size} rank(s)"
            )

        self.progress = Progress()
        self.resumed = resume_state is not None
        if resume_state is not None:
            self._load_state(*resume_state)
        self.writer: SummaryWriter | None = None
        self._probe: torch.Tensor | None = None  # validation tiles the attention is measured on
        self.signals = StopSignals()
        self._stop_agreed = False

    def _setup_model(self) -> None:
        self.step = TrainStep(self.cfg.model, self.t, self.device, self.ctx)
        self.model, self.net = self.step.model, self.step.net

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        """The checkpoint: tensors and plain values only; collective (every rank calls it)."""
        p = self.progress
        return {
            "model": self.model.state_dict(),
            **self.step.state_dict(),
            "step": p.step,
            "best": p.best,
            "best_step": p.best_step,
            "nonfinite_total": p.nonfinite_total,
            "val": dict(p.val),
            "world_size": self.ctx.world_size,
            "rng": self.ctx.gather(rng_state()),  # one entry per rank
            "config": config_to_text(self.cfg),
        }

    def save(self, name: str = "last") -> None:
        """Write a checkpoint from rank 0 (every rank must call it: it gathers RNG states)."""
        state = self._state()
        if self.ctx.is_main:
            if self.writer and name == "last":
                self.writer.flush()  # curves up to this step survive a kill; later ones are purged
            save_checkpoint(checkpoint_path(self.run_dir, name), state)
        self.ctx.barrier()  # no rank runs ahead (or exits) before the file is in place

    def _scene_records(self) -> dict[str, list[dict]]:
        return {
            "train": [s.record() for s in self.train_scenes],
            "val": [s.record() for s in self.val_scenes],
        }

    def _resume_requested(self) -> bool:
        if self.t.resume:
            return True
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        if restarts.isdigit() and int(restarts) > 0:
            log.info("SLURM job requeued (SLURM_RESTART_COUNT=%s): resuming", restarts)
            return True
        return False

    def _resume_state(self) -> tuple[Path, dict[str, Any]] | None:
        last = checkpoint_path(self.run_dir, "last")
        if self.ctx.is_main:
            for tmp in remove_stale_temporaries(last.parent):
                log.warning("removed %s, left by a process killed while saving", tmp)
        if not self._resume_requested():
            if last.exists():
                raise SarcompError(
                    f"{self.run_dir}: run folder already has checkpoints; add "
                    "trainer.resume=true to continue it, or choose another run folder"
                )
            return None
        if not last.exists():
            log.info("trainer.resume=true but %s does not exist: starting a new run", last)
            return None
        state = load_checkpoint(last, map_location="cpu")
        changes = model_config_changes(state.get("config", ""), self.cfg.model)
        if changes:
            raise SarcompError(
                f"{last}: checkpoint from another model configuration "
                f"({'; '.join(changes[:4])}{'; ...' if len(changes) > 4 else ''})"
            )
        return last, state

    def _load_state(self, last: Path, state: dict[str, Any]) -> None:
        load_model_state(self.model, state["model"], last)
        try:
            self.step.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise SarcompError(
                f"{last}: optimiser state does not match this run ({str(exc).splitlines()[0][:200]})"
            ) from None
        rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        saved_world = int(state.get("world_size", len(rngs)))
        if saved_world != self.ctx.world_size:
            log.warning(
                "%s was written by %d rank(s), this run has %d: resume is not exact "
                "(data order and random state differ)",
                last,
                saved_world,
                self.ctx.world_size,
            )
        if self.ctx.rank < len(rngs):
            set_rng_state(rngs[self.ctx.rank])
        self.progress = Progress(
            step=int(state["step"]),
            best=float(state["best"]),
            best_step=int(state.get("best_step", 0)),
            nonfinite_total=int(state["nonfinite_total"]),
            val=dict(state.get("val", {})),
        )
        log.info("resumed from step %d (%s)", self.progress.step, last)

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, float]:
        """Train to ``trainer.max_steps``; returns the final validation metrics."""
        if self.resumed and self.progress.step >= self.t.max_steps and self.progress.val:
            log.info("run already finished at step %d", self.progress.step)
            log_end(self.run_dir, self.progress.best_step, self.progress.best, self.progress.step)
            self.ctx.close()
            return dict(self.progress.val)
        self.signals.install()
        bar = None
        try:
            if self.ctx.is_main:
                self.writer = SummaryWriter(
                    tensorboard_dir(self.run_dir), purge_step=self.progress.step + 1 if self.resumed else None
                )
                write_json(scenes_path(self.run_dir), self._scene_records())
                if not self.resumed:
                    self.writer.add_text("config", _as_markdown_code(config_to_text(self.cfg)), 0)
                log_start(
                    self.cfg, self.run_dir, self.model, self.device, self.step.amp_dtype, self.ctx.world_size,
                    self.progress.step,
                )  # fmt: skip
            self.timer = StepTimer(self.progress.step, int(self.t.max_steps), self.device.type == "cpu")
            bar = tqdm(
                total=self.t.max_steps,
                initial=self.progress.step,
                disable=not self.ctx.is_main,
                desc=f"train {self.cfg.get('experiment_name', '')}".strip(),
                mininterval=2.0,
                dynamic_ncols=True,
                file=sys.stdout,
            )
            with logging_redirect_tqdm():  # log lines above the bar, not glued onto it
                val = self._loop(bar)
                self.model.update(force=True)
                self.save("last")
                self._check_ranks_agree()
                log_hparams(self.writer, self.cfg, self.model, val, self.progress.step)
                if self.ctx.is_main:
                    log_end(self.run_dir, self.progress.best_step, self.progress.best, self.progress.step)
            return val
        except SarcompError:
            self._remove_partial_outputs()
            raise
        finally:
            if bar is not None:
                bar.close()
            self.signals.restore()
            if self.writer:
                self.writer.close()
            self.ctx.close()

    def _loop(self, bar: tqdm) -> dict[str, float]:
        val: dict[str, float] = {}
        while self.progress.step < self.t.max_steps:
            for batches in self._epoch_batches():
                metrics = self.train_step(batches)
                step = self.progress.step
                bar.update(1)
                if self.ctx.is_main:
                    self.timer.step(step)
                if metrics is not None:
                    bar.set_postfix(
                        loss=f"{metrics['loss']:.3f}",
                        bpp=f"{metrics['bpp']:.3f}",
                        psnr=f"{metrics['psnr']:.2f}",
                    )
                    if step % self.t.log_every == 0 and self.writer:
                        for key, value in metrics.items():
                            self.writer.add_scalar(f"train/{key}", value, step)
                if step % self.t.val_every == 0 or step == self.t.max_steps:
                    val = self.validate()  # also writes last.pt
                elif step % self.t.checkpoint_every == 0 or self._stop_agreed:
                    self.save("last")
                if self.t.keep_every and step % self.t.keep_every == 0:
                    self.save(f"step_{step}")  # kept: the same run judged at several budgets
                if self._stop_agreed:
                    self.signals.exit(step)
                if step >= self.t.max_steps:
                    break
        return val or self.validate()

    def _epoch_batches(self):
        """Batches of micro-batches for the rest of the current epoch (resumes mid-epoch)."""
        epoch, in_epoch = divmod(self.progress.step, self.steps_per_epoch)
        self.dataset.epoch = epoch
        per_step = self.cfg.data.batch_size * self.t.accumulate
        sampler = ShardSampler(len(self.dataset), self.ctx.rank, self.ctx.world_size, in_epoch * per_step)
        seed = int(self.cfg.seed) + 7919 * epoch + self.ctx.rank
        loader = train_loader(self.cfg.data, self.dataset, sampler, seed, self.device)
        it = iter(loader)
        for _ in range(self.steps_per_epoch - in_epoch):
            try:
                batches = [next(it) for _ in range(self.t.accumulate)]
            except RuntimeError:
                # A scheduler's SIGTERM reaches the DataLoader workers too (the whole job or
                # process group is signalled); they exit, and a fetch that needed them fails with
                # "DataLoader worker ... exited unexpectedly". We are between steps, so the state
                # is consistent: save it. (With DDP the ranks could not agree on it: re-raise,
                # the last periodic checkpoint stands.)
                if self.signals.received is None or self.ctx.enabled:
                    raise
                self.save("last")
                self.signals.exit(self.progress.step)
            yield batches

    def train_step(self, batches: list[dict]) -> dict[str, float] | None:
        """One optimiser step; returns its metrics, or None if it was skipped as non-finite.

        The ranks agree on skipping and on stopping before anything else collective happens.
        """
        totals = self.step.accumulate(batches)
        finite = math.isfinite(totals["loss"])  # NaN/inf in any micro-batch survives the mean
        self.progress.step += 1
        nonfinite, stop = self.ctx.any([not finite, self.signals.received is not None], self.device)
        self._stop_agreed = stop
        applied = None if nonfinite else self.step.apply()
        if applied is None:
            return self._skip_nonfinite()
        self.progress.nonfinite_streak = 0
        return totals | applied | {"psnr": 10 * math.log10(1 / max(totals["mse"], 1e-12))}

    def _skip_nonfinite(self) -> None:
        p = self.progress
        p.nonfinite_total += 1
        p.nonfinite_streak += 1
        self.step.discard()
        log.warning("non-finite loss at step %d: step skipped (%d so far)", p.step, p.nonfinite_total)
        if self.writer:
            self.writer.add_scalar("train/nonfinite_steps", p.nonfinite_total, p.step)
        if p.nonfinite_streak >= self.t.max_nonfinite_streak:
            kept = checkpoint_path(self.run_dir)
            raise SarcompError(
                f"{self.run_dir}: loss was non-finite for {p.nonfinite_streak} steps in a row at step "
                f"{p.step}; stopped (last good checkpoint kept: "
                f"{kept if kept.exists() else 'none written yet'}). Try a lower trainer.lr or "
                "trainer.precision=32"
            )
        return None

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Forward pass over the validation tiles (shared out between ranks); logs, and writes
        last.pt and best.pt. A variable-rate model is validated at each of its λ: ``val_lmbda_<λ>/*``
        per λ, ``val/*`` their mean (the best-checkpoint criterion)."""
        self.model.eval()
        lmbdas = list(getattr(self.model, "lmbdas", ())) or [None]
        per_rate = {lmbda: self._validate_at(lmbda) for lmbda in lmbdas}
        metrics = [v for v, _ in per_rate.values()]
        val = {k: sum(v[k] for v in metrics) / len(metrics) for k in metrics[0]}
        step = self.progress.step
        if self.writer:
            for lmbda, (values, _) in per_rate.items():
                for key, value in values.items():
                    self.writer.add_scalar(
                        f"val/{key}" if lmbda is None else f"val_lmbda_{lmbda:g}/{key}", value, step
                    )
            if lmbdas[0] is not None:
                for key, value in val.items():
                    self.writer.add_scalar(f"val/{key}", value, step)
            first = per_rate[lmbdas[-1]][1]  # the highest rate's tiles for the explanations
            if first is not None and self.t.explain_at_val:
                log_validation_figures(self.writer, self.model, first[0].to(self.device), step)
        if self.ctx.is_main:  # gates and residual gains: did the attention switch on?
            if self._probe is None:
                self._probe = probe_tiles(self.val_loader.dataset).to(self.device)
            log_attention(self.model, self._probe, step, self.run_dir, self.writer)
        improved = val["loss"] < self.progress.best  # same on every rank: the sums are all-reduced
        log.info(
            "step %d val: %s%s",
            step,
            ", ".join(f"{k}={v:.4f}" for k, v in val.items()),
            " (best so far: checkpoints/best.pt)" if improved else "",
        )
        self.progress.val = val
        if improved:
            self.progress.best, self.progress.best_step = val["loss"], step
            self.save("best")
        self.save("last")
        return val

    def _validate_at(self, lmbda: float | None) -> tuple[dict[str, float], tuple | None]:
        """Validation metrics at one rate (``None``: the model's own λ) and the first tiles (input,
        reconstruction), which it logs as images."""
        sums, counts, first = validation_sums(self.model, self.val_loader, self.step, lmbda)
        keys = list(sums)
        totals = self.ctx.sum([*sums.values(), *(counts[k] for k in keys)], self.device)
        if self.writer and first is not None:
            suffix = "" if lmbda is None else f"_lmbda_{lmbda:g}"
            if lmbda is None or lmbda == self.model.lmbdas[0]:
                self.writer.add_images("val/input", viewable(first[0]), self.progress.step)
            self.writer.add_images(f"val/reconstruction{suffix}", viewable(first[1]), self.progress.step)
        sums, counts = dict(zip(keys, totals[: len(keys)])), dict(zip(keys, totals[len(keys) :]))
        return {k: sums[k] / counts[k] if counts[k] else math.nan for k in keys}, first

    def _check_ranks_agree(self) -> None:
        """Every rank took the same steps and holds the same weights (DDP keeps them in sync)."""
        if not self.ctx.enabled:
            return
        with torch.no_grad():
            checksum = float(sum(p.double().sum() for p in self.model.parameters()))
        reports = self.ctx.gather((self.progress.step, checksum))
        if len(set(reports)) > 1:
            raise SarcompError(f"ranks disagree at the end of training (step, weight checksum): {reports}")
        if self.ctx.is_main:
            log.info(
                "all %d ranks finished at step %d with identical weights", self.ctx.world_size, reports[0][0]
            )

    def _remove_partial_outputs(self) -> None:
        """A new run that failed before its first checkpoint leaves nothing behind."""
        if self.resumed or not self.ctx.is_main or checkpoint_path(self.run_dir).exists():
            return
        if self.writer:
            self.writer.close()
            self.writer = None
        shutil.rmtree(tensorboard_dir(self.run_dir), ignore_errors=True)
        (scenes_path(self.run_dir)).unlink(missing_ok=True)


def _as_markdown_code(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, float]:
    """Train one run described by a composed ``train.yaml`` config into ``run_dir``."""
    OmegaConf.resolve(cfg)
    check_train_config(cfg)
    return Trainer(cfg, run_dir).fit()
