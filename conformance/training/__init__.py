"""Training with impl: optimizer trajectories checked against torch.optim and optax
(``train-check``), and document 002's red/blue demo (``demo``)."""
