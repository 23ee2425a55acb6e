"""Cost analysis: parameters and multiply-adds per layer, and the lecture's worked examples."""
from benthos.cost.profile import LayerCost, ModelCost, conv_macs, profile_model, profile_module

__all__ = ["LayerCost", "ModelCost", "conv_macs", "profile_model", "profile_module"]
