"""Image domain: small image sets that ship in packages (or your own), a σ-conditioned U-Net trained with
the core DSM objective and Trainer, FID-style metrics on our own classifier's features, and classifier
guidance through the core guidance term.  Images are float32 ``(N, C, H, W)`` in [0, 1].

    from proteindsm.image.datasets import load_digits_dataset
    from proteindsm.image.unet import ImageUNet, UNetConfig
    from proteindsm.image.sampling import sample_images, class_guidance
    from proteindsm.image.fid import ImageMetrics

See docs/images.md.
"""
