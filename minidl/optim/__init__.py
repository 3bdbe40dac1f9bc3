"""Optimizers on one base (:class:`Optimizer`): SGD, Adam, AdamW and RMSprop, each with the exact update
of its torch.optim namesake."""
from minidl.optim.adam import Adam, AdamW
from minidl.optim.optimizer import Optimizer
from minidl.optim.rmsprop import RMSprop
from minidl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop"]
