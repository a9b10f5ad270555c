"""The STS ranking loss (CoSENT): it sees only the order of the scores."""
import math

import torch

from mtbert.model.heads import cosent_loss


def test_cosent_rewards_the_labels_order_and_ignores_shifts():
    y = torch.tensor([0.0, 1.5, 3.0, 5.0])
    right = torch.tensor([0.1, 0.4, 0.7, 0.9])
    wrong = right.flip(0)
    assert cosent_loss(right, y) < cosent_loss(wrong, y)
    assert torch.allclose(cosent_loss(right + 0.05, y), cosent_loss(right, y))
    assert cosent_loss(right * 10, y) < 1e-6  # well separated in the right order: log(1 + ~0)


def test_cosent_with_tied_labels_is_log_one():
    y = torch.full((3,), 2.0)
    assert math.isclose(cosent_loss(torch.tensor([0.3, 0.1, 0.9]), y).item(), 0.0, abs_tol=1e-7)


def test_cosent_has_gradients_for_every_score():
    s = torch.tensor([0.2, 0.5, 0.1], requires_grad=True)
    cosent_loss(s, torch.tensor([1.0, 0.0, 2.0])).backward()
    assert (s.grad.abs() > 0).all()
