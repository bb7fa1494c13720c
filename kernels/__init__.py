"""Numba-compiled kernels: the math of training.

Every kernel is a pure function of explicit inputs that writes into preallocated outputs
(backward kernels overwrite their outputs, they never accumulate). Shapes are given in each
docstring; ``B`` is the batch size. The training engine (:mod:`kernels.engine`) walks a
:class:`kernels.plan.Plan` and calls these kernels; a whole run is one compiled call.
"""
