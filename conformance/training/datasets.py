"""The demo's red and blue points: two classes in the plane, made locally from a seed.

Document 002 (sections 二 and 五) classifies red and blue points with a network
2 -> hidden -> 1 and shows how the boundary bends as the hidden layer widens;
label 0 is a red point and 1 a blue one, as there. Nothing is downloaded: each
data set is a few lines of numpy from ``default_rng(seed)``, the same points for
the same seed on every machine. Document 001 (section 数据选择与模型评估) splits data
into a training set (fit the parameters), a development set (choose the model,
here the hidden width) and a test set (an unbiased final estimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RED, BLUE = 0, 1
"""Class labels: 0 is a red point, 1 a blue point (document 002)."""


@dataclass(frozen=True)
class Points:
    """Points in the plane, ``xy`` of shape (N, 2), with their class ``labels`` (N,), 0 or 1."""

    xy: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Split:
    """Training, development and test points (document 001)."""

    train: Points
    dev: Points
    test: Points


def moons(count: int, *, seed: int, noise: float = 0.15) -> Points:
    """Two interleaving half circles: red on top, blue below and shifted right."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    angle = rng.uniform(0, np.pi, size=count)
    top = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    bottom = np.stack([1 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    xy = np.where(labels[:, None] == RED, top, bottom) + rng.normal(0, noise, size=(count, 2))
    return Points(xy, labels)


def blobs(count: int, *, seed: int, noise: float = 0.7) -> Points:
    """Two round clusters that overlap a little: nearly separable by a straight line."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    centres = np.array([[-1.0, -0.5], [1.0, 0.5]])
    xy = centres[labels] + rng.normal(0, noise, size=(count, 2))
    return Points(xy, labels)


def spirals(count: int, *, seed: int, noise: float = 0.08, turns: float = 1.25) -> Points:
    """Two interleaved spirals (red and blue, half a turn apart): far from linearly separable."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    progress = np.sqrt(rng.uniform(0.02, 1, size=count))  # even density along the arm
    angle = 2 * np.pi * turns * progress + np.pi * labels
    radius = 1.5 * progress
    xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return Points(xy + rng.normal(0, noise, size=(count, 2)), labels)


DATASETS = {"moons": moons, "blobs": blobs, "spirals": spirals}
DATASET_NAMES = tuple(DATASETS)


def make_points(name: str, count: int, *, seed: int) -> Points:
    """``count`` points of data set ``name`` (moons, blobs or spirals) from ``seed``."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of: {', '.join(DATASETS)}")
    if count < 10:
        raise ValueError(f"need at least 10 points to split into train, dev and test, got {count}")
    return DATASETS[name](count, seed=seed)


def split(points: Points, *, seed: int, dev: float = 0.2, test: float = 0.2) -> Split:
    """Shuffle (with ``seed``) and cut into train / dev / test, by the given fractions."""
    if not (0 < dev and 0 < test and dev + test < 1):
        raise ValueError(
            f"dev and test fractions must be positive with a sum below 1: {dev}, {test}"
        )
    order = np.random.default_rng(seed).permutation(len(points))
    dev_count = max(1, round(dev * len(points)))
    test_count = max(1, round(test * len(points)))
    parts = np.split(order, [len(points) - dev_count - test_count, len(points) - test_count])
    train_idx, dev_idx, test_idx = parts
    return Split(*(Points(points.xy[i], points.labels[i]) for i in (train_idx, dev_idx, test_idx)))
