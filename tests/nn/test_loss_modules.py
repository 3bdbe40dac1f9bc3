"""nn.CrossEntropyLoss and nn.MSELoss against torch.nn's namesakes, values and gradients in float64."""
import numpy as np
import pytest
import torch

from minidl import Tensor, nn
from tests.gradcheck import gradcheck

RNG = np.random.default_rng(3)
LOGITS = RNG.standard_normal((5, 4)) * 3
LOGITS[1] = [1000.0, 1000.0, -1000.0, 0.0]  # huge logits and a tie stay finite
CLASSES = np.array([0, 3, 1, 1, 2])
PREDICTION = RNG.standard_normal((5, 3))
TARGET = RNG.standard_normal((5, 3))


def ours_and_theirs(loss, theirs_loss, x, target):
    ours_x = Tensor(x.copy(), requires_grad=True)
    value = loss(ours_x, target)
    value.backward()
    theirs_x = torch.tensor(x.copy(), requires_grad=True)
    expected = theirs_loss(theirs_x, torch.from_numpy(target))
    expected.backward()
    return value, ours_x.grad, expected.item(), theirs_x.grad.numpy()


def test_cross_entropy_loss_matches_torch():
    value, grad, expected, expected_grad = ours_and_theirs(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(),
                                                           LOGITS, CLASSES)
    assert value.shape == () and value.dtype == np.float64
    np.testing.assert_allclose(value.item(), expected, rtol=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)
    x = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    gradcheck(lambda: nn.CrossEntropyLoss()(x, np.array([2, 0, 3])), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss_matches_torch(reduction):
    loss = nn.MSELoss(reduction=reduction)
    value, grad, expected, expected_grad = ours_and_theirs(loss, torch.nn.MSELoss(reduction=reduction),
                                                           PREDICTION, TARGET)
    np.testing.assert_allclose(value.item(), expected, rtol=1e-13)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-13)
    assert repr(loss) == f"MSELoss(reduction='{reduction}')"
    x = Tensor(PREDICTION.copy(), requires_grad=True)
    gradcheck(lambda: loss(x, TARGET), [x])


def test_mse_loss_is_zero_at_the_target_and_the_loss_modules_hold_no_parameters():
    assert nn.MSELoss()(Tensor(TARGET), TARGET).item() == 0.0
    assert list(nn.MSELoss().parameters()) == [] and list(nn.CrossEntropyLoss().parameters()) == []


def test_bad_arguments_name_the_module_or_its_op():
    with pytest.raises(ValueError, match="^MSELoss: reduction must be one of 'mean', 'sum', got 'none'"):
        nn.MSELoss(reduction="none")
    with pytest.raises(ValueError, match=r"^mse_loss: expected a target of shape \(5, 3\)"):
        nn.MSELoss()(Tensor(PREDICTION), TARGET[:2])
    with pytest.raises(TypeError, match="^cross_entropy: expected integer class targets, got float64"):
        nn.CrossEntropyLoss()(Tensor(LOGITS), CLASSES.astype(np.float64))
