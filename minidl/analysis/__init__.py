"""Watching weight matrices: singular values, conditioning and what can be done with them.

One idea per module:

- spectrum: singular values, condition number, spectral norm, stable rank, numerical rank (the core)
- tracking: SpectrumTracker, a fit callback recording them every epoch
- plots: the figures (conditioning vs accuracy, singular values vs epochs, ESD, ...)
- random_matrix: empirical spectral density against Marchenko-Pastur
- compression: rank-k approximation and factorization of Linear layers
- pruning: structured pruning of units by magnitude or frame potential
- geometry: cosine similarities of units and their graph
- norms: Frobenius normalization, weight perturbation, similarity to a reference solution
- regularizers: conditioning penalty, SVD layers, singular value bounding
- jacobian: the per-sample ReLU-mask Data Jacobian Matrix (DJM), the EDJM, its spectrum and score

The analysis observes models; it never changes the model it is given unless its name says so (the
perturbation and bounding callbacks, :func:`bound_singular_values`).
"""
from minidl.analysis import (compression, geometry, jacobian, norms, plots, pruning, random_matrix,
                             regularizers, spectrum, tracking)
from minidl.analysis.compression import (compress, compression_report, elbow_rank, energy_rank,
                                         factorize_linear, low_rank, residuals)
from minidl.analysis.jacobian import djm, edjm, edjm_score, effective_bias, forward_masks
from minidl.analysis.geometry import cosine_similarity, gaussian_adjacency, unit_norms
from minidl.analysis.norms import (CosineSimilarityTracker, WeightPerturbation, layer_norms,
                                   normalize_layers, normalized_loss, product_of_norms)
from minidl.analysis.pruning import frame_potential, mask_units, prune_units, pruning_curves, pruning_order
from minidl.analysis.random_matrix import (correlation_eigenvalues, count_spikes, empirical_spectral_density,
                                           fit_sigma, marchenko_pastur_density, marchenko_pastur_edges,
                                           marchenko_pastur_fit)
from minidl.analysis.regularizers import (Reorthonormalize, SingularValueBounding, SVDLinear,
                                          bound_singular_values, conditioning_penalty)
from minidl.analysis.spectrum import (condition_number, numerical_rank, singular_values, spectral_norm,
                                      spectral_summary, stable_rank)
from minidl.analysis.tracking import SpectrumTracker

__all__ = [
    "compression", "geometry", "jacobian", "norms", "plots", "pruning", "random_matrix", "regularizers", "spectrum",
    "tracking",
    "singular_values", "condition_number", "spectral_norm", "stable_rank", "numerical_rank",
    "spectral_summary", "SpectrumTracker",
    "correlation_eigenvalues", "empirical_spectral_density", "marchenko_pastur_density",
    "marchenko_pastur_edges", "fit_sigma", "count_spikes", "marchenko_pastur_fit",
    "low_rank", "residuals", "elbow_rank", "energy_rank", "factorize_linear", "compress",
    "compression_report",
    "frame_potential", "pruning_order", "prune_units", "mask_units", "pruning_curves",
    "unit_norms", "cosine_similarity", "gaussian_adjacency",
    "layer_norms", "product_of_norms", "normalize_layers", "normalized_loss", "WeightPerturbation",
    "CosineSimilarityTracker",
    "conditioning_penalty", "SVDLinear", "Reorthonormalize", "bound_singular_values",
    "SingularValueBounding",
    "forward_masks", "djm", "effective_bias", "edjm", "edjm_score",
]
