"""Type aliases of the public API's annotations (a leaf: imports nothing of fastwmf).

They exist for type checkers only (annotations are never evaluated at run
time), so every module imports them under ``typing.TYPE_CHECKING``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Protocol, Tuple, Union

    import numpy as np
    import scipy.sparse as sp
    from numpy.typing import ArrayLike, NDArray

    #: A scipy.sparse matrix or array, any format.
    SparseMatrix = Union[sp.spmatrix, sp.sparray]
    #: Feedback: a sparse matrix or a ``(rows, cols, values)`` triple of 1-D arrays.
    InteractionsLike = Union[SparseMatrix, Tuple[ArrayLike, ArrayLike, ArrayLike]]

    class DataFrameLike(Protocol):
        """A pandas- or polars-like table: ``columns`` and ``frame[name]``."""

        @property
        def columns(self) -> Any: ...

        def __getitem__(self, key: Any, /) -> Any: ...

    #: What ``fit`` and ``fold_in`` take: interactions or a DataFrame.
    FitInput = Union[InteractionsLike, DataFrameLike]
    #: A float32 or float64 array (factor matrices).
    FloatArray = NDArray[np.floating[Any]]
    #: Seed of the random draws: None, an int or a ``numpy.random.Generator``.
    RandomState = Union[int, np.random.Generator, None]

    class FittedFactors(Protocol):
        """What :mod:`fastwmf.metrics` reads of a model: its factor matrices."""

        user_factors_: FloatArray
        item_factors_: FloatArray

    class SavedModel(Protocol):
        """What :mod:`fastwmf.io` reads and writes of a fitted model."""

        _fitted_arrays: tuple[str, ...]
        _fitted_values: tuple[str, ...]

        def get_params(self, deep: bool = True) -> dict[str, Any]: ...

        def _check_fitted(self) -> None: ...
