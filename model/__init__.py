"""GoogLeNet loading, one-pass analysis, attribution and architecture facts. No UI code here."""
from .analysis import MODULES, BRANCHES, AUX_HEADS, Analysis, AuxOutput, BranchActivation, ModuleActivation, Prediction
from .engine import Engine, load_engine
from .images import ImageInputError, load_image
from .weights import CATEGORIES, WeightsError, WeightsInfo

__all__ = [
    "MODULES", "BRANCHES", "AUX_HEADS", "Analysis", "AuxOutput", "BranchActivation", "ModuleActivation", "Prediction",
    "Engine", "load_engine", "ImageInputError", "load_image", "CATEGORIES", "WeightsError", "WeightsInfo",
]
