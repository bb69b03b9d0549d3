"""The bench (``python -m conformance bench``): measurements as ratios against PyTorch
autograd, torch.autograd.gradcheck and jax check_grads (:mod:`.measure`), and their
table, JSON and chart with the machine they ran on (:mod:`.report`)."""
