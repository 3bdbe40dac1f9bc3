"""Layer construction, shapes, dtypes and the errors for bad input."""
import re

import numpy as np
import pytest

from minidl import Tensor, manual_seed, nn
from minidl.nn import functional as F

rng = np.random.default_rng(2)


def tensor(*shape, dtype=np.float32):
    return Tensor(rng.standard_normal(shape).astype(dtype))


def shape_pattern(shape):
    return re.escape(str(tuple(shape)))


# --------------------------------------------------------------------- shapes and dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_dtype_and_give_the_documented_shapes(dtype):
    manual_seed(0)
    cases = [(nn.Linear(4, 3, dtype=dtype), (5, 4), (5, 3)),
             (nn.Linear(4, 3, bias=False, dtype=dtype), (5, 4), (5, 3)),
             (nn.Conv2d(2, 3, 3, dtype=dtype), (2, 2, 6, 5), (2, 3, 4, 3)),
             (nn.Conv2d(2, 3, (3, 2), stride=2, padding=1, dtype=dtype), (2, 2, 7, 6), (2, 3, 4, 4)),
             (nn.MaxPool2d(2), (2, 3, 5, 4), (2, 3, 2, 2)),
             (nn.AvgPool2d(3, stride=2), (2, 3, 7, 5), (2, 3, 3, 2)),
             (nn.ReLU(), (2, 3, 4), (2, 3, 4)),
             (nn.Dropout(0.5), (4, 5), (4, 5)),
             (nn.Flatten(), (2, 3, 4, 5), (2, 60)),
             (nn.GradientPerturbation(), (3, 4), (3, 4))]
    for layer, in_shape, out_shape in cases:
        for p in layer.parameters():
            assert p.dtype == dtype
        x = Tensor(rng.standard_normal(in_shape).astype(dtype), requires_grad=True)
        out = layer(x)
        assert out.shape == out_shape and out.dtype == dtype, layer
        (out * out).sum().backward()
        assert x.grad.dtype == dtype, layer
        for p in layer.parameters():
            assert p.grad.dtype == dtype and p.grad.shape == p.shape, layer


def test_parameter_shapes_follow_pytorch():
    linear = nn.Linear(4, 3)
    assert linear.weight.shape == (3, 4) and linear.bias.shape == (3,)
    assert nn.Linear(4, 3, bias=False).bias is None
    conv = nn.Conv2d(2, 5, (3, 1))
    assert conv.weight.shape == (5, 2, 3, 1) and conv.bias.shape == (5,)
    assert (conv.stride, conv.padding, conv.kernel_size) == ((1, 1), (0, 0), (3, 1))
    assert nn.Conv2d(2, 5, 3, bias=False).bias is None
    assert nn.MaxPool2d(3).stride == (3, 3) and nn.AvgPool2d(3, 1).stride == (1, 1)


def test_repr_shows_the_configuration():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8, 3, bias=False), nn.Dropout(0.25), nn.GradientPerturbation(2.0))
    text = repr(model)
    for part in ["Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(0, 0))", "ReLU()",
                 "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))", "Flatten()",
                 "Linear(in_features=8, out_features=3, bias=False)", "Dropout(p=0.25)",
                 "GradientPerturbation(scale=2.0)", "(6): "]:
        assert part in text


# --------------------------------------------------------------------- bad input
BAD_INPUTS = [
    (nn.Linear(4, 3), (5, 4, 1)),
    (nn.Linear(4, 3), (4,)),
    (nn.Linear(4, 3), (5, 3)),
    (nn.Conv2d(2, 3, 3), (2, 6, 6)),
    (nn.Conv2d(2, 3, 3), (1, 3, 6, 6)),
    (nn.Conv2d(2, 3, 3), (1, 2, 2, 6)),
    (nn.Conv2d(2, 3, (3, 5), padding=1), (1, 2, 6, 2)),
    (nn.MaxPool2d(2), (2, 4, 4)),
    (nn.MaxPool2d(3), (1, 1, 2, 5)),
    (nn.AvgPool2d(2), (1, 1, 4, 4, 1)),
    (nn.AvgPool2d((2, 4)), (1, 1, 4, 3)),
    (nn.Flatten(), (5,)),
]


@pytest.mark.parametrize("layer, shape", BAD_INPUTS, ids=lambda v: str(v).split("(")[0] if
                         isinstance(v, nn.Module) else str(v))
def test_wrong_rank_or_shape_raises_a_value_error_naming_the_layer_and_shapes(layer, shape):
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected .*got {shape_pattern(shape)}$"):
        layer(tensor(*shape))


def test_a_padded_input_exactly_the_kernel_size_is_accepted():
    assert nn.Conv2d(1, 1, 3, padding=1)(tensor(1, 1, 1, 1)).shape == (1, 1, 1, 1)
    assert nn.MaxPool2d(3)(tensor(1, 1, 3, 3)).shape == (1, 1, 1, 1)


@pytest.mark.parametrize("layer", [nn.Linear(2, 2), nn.Conv2d(1, 1, 1), nn.MaxPool2d(2), nn.AvgPool2d(2),
                                   nn.ReLU(), nn.Dropout(), nn.Flatten(), nn.GradientPerturbation()],
                         ids=lambda m: type(m).__name__)
def test_a_non_tensor_input_is_rejected_by_name(layer):
    with pytest.raises((TypeError, ValueError), match=rf"^{type(layer).__name__}: expected a Tensor"):
        layer(np.ones((2, 2, 2, 2), np.float32))


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Linear(0, 3), "Linear: in_features must be an integer >= 1, got 0"),
    (lambda: nn.Linear(3, 2.5), "Linear: out_features must be an integer, got 2.5 (float)"),
    (lambda: nn.Linear(True, 3), "Linear: in_features"),
    (lambda: nn.Conv2d(0, 1, 3), "Conv2d: in_channels"),
    (lambda: nn.Conv2d(1, 1, 0), "Conv2d: kernel_size must be an integer >= 1, got 0"),
    (lambda: nn.Conv2d(1, 1, 3, stride=0), "Conv2d: stride must be an integer >= 1, got 0"),
    (lambda: nn.Conv2d(1, 1, 3, padding=-1), "Conv2d: padding must be an integer >= 0, got -1"),
    (lambda: nn.Conv2d(1, 1, (3, 3, 3)), "Conv2d: kernel_size must be an int or a pair of ints, got (3, 3, 3)"),
    (lambda: nn.MaxPool2d(0), "MaxPool2d: kernel_size must be an integer >= 1, got 0"),
    (lambda: nn.AvgPool2d(2, stride=(1, 0)), "AvgPool2d: stride must be an integer >= 1, got 0"),
    (lambda: nn.AvgPool2d(2.0), "AvgPool2d: kernel_size must be an integer, got 2.0 (float)"),
    (lambda: nn.GradientPerturbation(-1.0), "GradientPerturbation: scale must be >= 0, got -1.0"),
])
def test_bad_layer_arguments(make, message):
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        make()


@pytest.mark.parametrize("p, error, message", [
    (1, ValueError, r"p must be in \[0, 1\), got 1$"), (1.0, ValueError, r"p must be in \[0, 1\)"),
    (-0.1, ValueError, r"p must be in \[0, 1\)"), (1.5, ValueError, r"p must be in \[0, 1\)"),
    (np.float32("nan"), ValueError, "p must be a finite number"), (True, TypeError, "p must be a real number"),
    ("0.5", TypeError, "p must be a real number"), (None, TypeError, "p must be a real number"),
])
def test_dropout_rejects_p_outside_zero_one(p, error, message):
    with pytest.raises(error, match=r"^Dropout: " + message):
        nn.Dropout(p)
    with pytest.raises(error, match=r"^dropout: " + message):
        F.dropout(tensor(2, 2), p)


@pytest.mark.parametrize("p", [0, 0.0, 0.5, 0.999])
def test_dropout_accepts_p_in_zero_one(p):
    assert nn.Dropout(p).p == p


def test_cross_entropy_rejects_float_and_out_of_range_targets():
    logits = tensor(3, 4)
    with pytest.raises(TypeError, match="cross_entropy: expected integer class targets, got float"):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="cross_entropy: expected integer class targets, got float32"):
        F.cross_entropy(logits, Tensor(np.array([0.0, 1.0, 2.0], np.float32)))
    with pytest.raises(TypeError, match="cross_entropy: expected integer class targets, got list"):
        F.cross_entropy(logits, [0, 1, 2])
    with pytest.raises(ValueError, match=re.escape("cross_entropy: targets must lie in [0, 4), got values "
                                                   "in [0, 4]")):
        F.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=re.escape("in [-1, 2]")):
        F.cross_entropy(logits, np.array([-1, 2, 1]))
    with pytest.raises(ValueError, match=re.escape("expected targets of shape (3,), got (2,)")):
        F.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=re.escape("expected logits of shape (N, C), got (3, 4, 1)")):
        F.cross_entropy(tensor(3, 4, 1), np.array([0, 1, 2]))


def test_cross_entropy_accepts_unsigned_targets():
    logits = Tensor(rng.standard_normal((3, 4)))
    np.testing.assert_allclose(F.cross_entropy(logits, np.array([0, 3, 1], np.uint8)).item(),
                               F.cross_entropy(logits, np.array([0, 3, 1])).item())


def test_losses_check_the_target_shape_and_reduction():
    prediction = tensor(3, 2)
    with pytest.raises(ValueError, match=re.escape("mse_loss: expected a target of shape (3, 2), got (3,)")):
        F.mse_loss(prediction, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="mse_loss: reduction must be one of 'mean', 'sum', got 'none'"):
        F.mse_loss(prediction, np.zeros((3, 2), np.float32), reduction="none")
    with pytest.raises(ValueError, match=re.escape("exponential_loss: expected a target of shape (3, 2)")):
        F.exponential_loss(prediction, np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="float32"):
        F.mse_loss(prediction, np.zeros((3, 2)))  # a float64 target for float32 predictions


# --------------------------------------------------------------------- Sequential as a model
def test_sequential_runs_its_layers_in_order():
    manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = tensor(5, 3)
    by_hand = model[2](model[1](model[0](x)))
    np.testing.assert_array_equal(model(x).data, by_hand.data)
    hidden = np.maximum(x.data @ model[0].weight.data.T + model[0].bias.data, 0)
    np.testing.assert_allclose(model(x).data, hidden @ model[2].weight.data.T + model[2].bias.data,
                               rtol=1e-6)


def test_dropout_takes_numpy_probabilities_and_keeps_the_dtype():
    manual_seed(0)
    x = Tensor(np.ones((50, 40), dtype=np.float32))
    y = nn.Dropout(np.float32(0.5))(x)
    assert y.dtype == np.float32
    assert set(np.unique(y.data)) <= {0.0, 2.0}


def test_sequential_index_out_of_range_names_the_container():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert isinstance(model[-1], nn.ReLU)
    with pytest.raises(IndexError, match="Sequential: index 5 is out of range for 2 modules"):
        model[5]
