"""A run killed at any point after its first checkpoint and resumed ends as the uninterrupted run:
the same weights (bit for bit), history, early-stopping record and temperature."""
import lightning.pytorch as pl
import pytest
import torch
from safetensors.torch import load_file

import benthos.train.engine as engine
from benthos.train import TrainConfig, train


class Killed(Exception):
    """Stands in for a kill: Lightning writes no checkpoint on an exception, so the run folder is left
    as SIGKILL would leave it (the last epoch's checkpoint, the weights kept so far)."""


class KillAt(pl.Callback):
    def __init__(self, epoch: int, batch: int | None):
        self.epoch, self.batch = epoch, batch  # batch None: after the epoch's training, before its checkpoint

    def on_train_batch_start(self, trainer, module, batch, idx):
        if trainer.current_epoch == self.epoch and idx == self.batch:
            raise Killed

    def on_validation_epoch_end(self, trainer, module):
        if trainer.current_epoch == self.epoch and self.batch is None:
            raise Killed


@pytest.mark.slow
@pytest.mark.ci
def test_killed_at_several_points_and_resumed_ends_as_the_uninterrupted_run(colour_folder, tmp_path, tiny_config,
                                                                           monkeypatch):
    # every random stream in play: a persistent loader worker, weighted sampling, strong augmentation,
    # mixup, EMA, gradual unfreezing (at epoch 1), early stopping state and calibration
    kw = dict(epochs=3, num_workers=1, balance="sampler", augment="seafloor-strong", mixup=0.4, ema_decay=0.9,
              strategy="gradual", gradual_epochs=1, weights=None, calibrate=True)
    full = train(tiny_config(colour_folder, tmp_path / "full", **kw))
    want = load_file(tmp_path / "full" / "model.safetensors")
    callbacks = engine._callbacks
    # (epoch, batch): just after the first checkpoint; mid-epoch; after the last epoch's training, before its checkpoint
    for epoch, batch in [(1, 0), (1, 2), (2, None)]:
        run = tmp_path / f"killed_{epoch}_{batch}"
        monkeypatch.setattr(engine, "_callbacks", lambda *a, **k: callbacks(*a, **k) + [KillAt(epoch, batch)])
        with pytest.raises(Killed):
            train(tiny_config(colour_folder, run, **kw))
        monkeypatch.setattr(engine, "_callbacks", callbacks)
        assert (run / "checkpoints" / "last.ckpt").is_file() and not (run / "run.json").exists()
        # resumed with another number of loader workers: where and how it runs may change, not what it learns
        meta = train(TrainConfig(resume=str(run), num_workers=0))
        assert meta["timings"]["resumed_from_epoch"] == epoch
        got = load_file(run / "model.safetensors")
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want), f"weights differ after a kill at {epoch, batch}"
        assert meta["history"] == full["history"]
        assert meta["calibration"] == full["calibration"]
