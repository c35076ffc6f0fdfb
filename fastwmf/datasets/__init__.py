"""Datasets: MovieLens loaders, a generic table loader and synthetic generators.

- :func:`load_movielens` reads the official GroupLens MovieLens archives
  (100K, 1M, 10M, 20M, 25M, latest-small) from a local path, or downloads one
  once into a cache directory and checks its sha256 against
  :data:`MOVIELENS_RELEASES` (mirrored in ``datasets/manifest.json``)
  (:mod:`.movielens`).
- :func:`load_interactions` reads any user/item/value table (CSV, TSV,
  compressed or not; Parquet with pyarrow) with ids of any type
  (:mod:`.readers`).
- Both return an :class:`InteractionData`: a CSR matrix plus the id mappings
  (and timestamps or weights when the source has them).
- :func:`make_planted_ratings` and :func:`make_implicit_interactions` generate
  data deterministically by seed (:mod:`.synthetic`). The embedded default
  dataset of the demo is :func:`sample_ratings`: it is generated, not
  downloaded, and ``datasets/manifest.json`` records its parameters and
  checksum so that a change to the generator is noticed.

Text tables are parsed by small Numba kernels over blocks of raw bytes (no
pandas needed) while a thread inflates the next block: under a second per
million rows, once the first call has compiled the kernels (cached on disk)
(:mod:`._text`).
"""

from .._download import ChecksumError, DownloadError
from .movielens import (
    ML100K_SHAPE, MOVIELENS_RELEASES, fetch_movielens, load_movielens, movielens_path,
    read_ml100k_file)
from .readers import InteractionData, load_interactions
from .synthetic import (
    SAMPLE_PARAMS, make_implicit_interactions, make_planted_ratings, matrix_checksum,
    sample_ratings)

__all__ = [
    "load_movielens", "fetch_movielens", "movielens_path", "MOVIELENS_RELEASES",
    "load_interactions", "InteractionData", "ChecksumError", "DownloadError",
    "make_planted_ratings", "sample_ratings", "SAMPLE_PARAMS", "matrix_checksum",
    "make_implicit_interactions", "read_ml100k_file", "ML100K_SHAPE",
]
