"""benthos: deep learning for benthic taxonomy.

The public API is organised by subsystem::

    from benthos.models import create_model, list_models, model_card
    from benthos.cost import profile_model
"""
__version__ = "0.1.0"

from benthos.errors import BenthosError  # noqa: F401
