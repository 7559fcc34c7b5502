"""A few DSM steps through the core Trainer lower the loss of the image U-Net; classifiers train through
the same Trainer with the image objectives."""

from __future__ import annotations

import torch

from proteindsm.core import Batch, DSMObjective, GeometricSchedule, Trainer, TrainConfig, ValidationSet
from proteindsm.image.classifier import ClassifierConfig, accuracy, labelled_batches, train_classifier
from proteindsm.image.datasets import load_digits_dataset
from proteindsm.image.unet import ImageUNet, UNetConfig


def test_few_steps_lower_the_dsm_loss(tmp_path):
    torch.manual_seed(0)
    data = load_digits_dataset()
    schedule = GeometricSchedule(0.01, 5.0)
    model = ImageUNet(UNetConfig(channels=8, emb_dim=32, groups=4))
    batches = labelled_batches(data.x_train, None, 64, seed=0)
    val = ValidationSet(batches=[Batch(x=data.x_test[:128])], sigmas=schedule.validation_sigmas(4))
    cfg = TrainConfig(out_dir=str(tmp_path), max_steps=40, lr=2e-3, warmup_steps=5, ema_decay=0.0, log_every=10,
                      val_every=1000, checkpoint_every=1000, device="cpu", progress=False, resume=False)
    trainer = Trainer(model, DSMObjective(schedule), batches, cfg, validation=val,
                      metadata={"model_class": ImageUNet.model_class, "model_config": model.config.to_dict()})
    before = trainer.validate(use_ema=False)["val_loss"]
    trainer.fit()
    after = trainer.validate(use_ema=False)["val_loss"]
    assert after < 0.8 * before, (before, after)
    assert (tmp_path / "checkpoint.safetensors").is_file()


def test_classifiers_train_through_the_core_trainer(tmp_path):
    data = load_digits_dataset()
    clean = train_classifier(data.x_train, data.y_train, ClassifierConfig(width=8, feature_dim=16),
                             tmp_path / "clean", steps=120, batch_size=64, lr=3e-3, device="cpu", ema_decay=0.9)
    assert accuracy(clean, data.x_test, data.y_test) > 0.8
    sched = GeometricSchedule(0.01, 5.0)
    noisy = train_classifier(data.x_train, data.y_train, ClassifierConfig(width=8, feature_dim=16, noise_conditional=True),
                             tmp_path / "noisy", steps=120, batch_size=64, lr=3e-3, device="cpu", ema_decay=0.9, schedule=sched)
    assert accuracy(noisy, data.x_test, data.y_test, sigma=0.01) > 0.6
    # reused from its checkpoint, not retrained
    again = train_classifier(data.x_train, data.y_train, ClassifierConfig(width=8, feature_dim=16),
                             tmp_path / "clean", steps=120, batch_size=64, lr=3e-3, device="cpu", ema_decay=0.9)
    for a, b in zip(clean.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
