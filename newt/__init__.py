"""newt: TorchRL-native MMBench environments and the Newt multitask world model."""

__version__ = "0.1.0"
