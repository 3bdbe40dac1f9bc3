"""Neural-network building blocks: Module, layers and the functional ops behind them."""
from minidl.nn import functional
from minidl.nn.layers import (AvgPool2d, Conv2d, Dropout, Flatten, GradientPerturbation, Linear,
                              MaxPool2d, ReLU, Sequential)
from minidl.nn.loss import CrossEntropyLoss, MSELoss
from minidl.nn.module import Module, Parameter
from minidl.nn.normalization import BatchNorm1d, BatchNorm2d
from minidl.nn.residual import Residual

__all__ = ["functional", "Module", "Parameter", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU",
           "Dropout", "Flatten", "GradientPerturbation", "Sequential", "BatchNorm1d", "BatchNorm2d",
           "Residual", "CrossEntropyLoss", "MSELoss"]
