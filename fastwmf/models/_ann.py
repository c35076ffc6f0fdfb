"""Approximate top-k over item factors with faiss (the ``ann`` extra).

Maximum inner product search becomes nearest-neighbour search by one extra
coordinate (Bachrach et al. 2014): item ``v`` is stored as ``[v, sqrt(M^2 -
|v|^2)]`` with ``M`` the largest item norm and a query ``u`` is searched as
``[u, 0]``, so ``|q - x|^2 = |u|^2 + M^2 - 2 u.v`` orders items as ``u.v``
does. An inverted-file index (``IndexIVFFlat``) over those vectors scans
only the ``nprobe`` cells nearest to a query; :func:`build` picks
``nprobe`` so that a sample of queries reaches the recall asked for.
"""

import numpy as np

#: Training vectors per inverted-file cell (faiss warns below 39).
TRAIN_PER_CELL = 64

#: Largest ``nprobe`` tried while calibrating, as a share of the cells.
MAX_PROBE_SHARE = 0.5


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError("build_index(method='faiss') needs faiss: pip install "
                          "'fastwmf[ann]' (or faiss-cpu)") from exc
    return faiss


def fingerprint(factors):
    """What identifies a factor matrix for an index: shape, dtype and a sample
    checksum (first, middle and last rows)."""
    n = factors.shape[0]
    rows = factors[[0, n // 2, n - 1]] if n else factors[:0]
    return (factors.shape, str(factors.dtype), float(np.asarray(rows, np.float64).sum()))


class FaissIndex:
    """An inverted-file index over (augmented) vectors, searched in float32."""

    def __init__(self, vectors, nlist, threads, random_state, augment):
        faiss = _faiss()
        vectors = np.asarray(vectors, dtype=np.float32)
        self.augment = augment
        self.n, self.d = vectors.shape
        if augment:
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
            bound = norms.max() if self.n else 0.0
            extra = np.sqrt(np.maximum(bound * bound - norms * norms, 0.0))
            vectors = np.hstack([vectors, extra[:, None].astype(np.float32)])
        vectors = np.ascontiguousarray(vectors)
        width = vectors.shape[1]
        self.nlist = max(1, min(nlist, self.n // 39 if self.n >= 39 else 1))
        faiss.omp_set_num_threads(threads)
        self.index = faiss.IndexIVFFlat(faiss.IndexFlatL2(width), width, self.nlist,
                                        faiss.METRIC_L2)
        rng = np.random.default_rng(random_state)
        sample = min(self.n, TRAIN_PER_CELL * self.nlist)
        train = vectors if sample == self.n else vectors[np.sort(
            rng.choice(self.n, sample, replace=False))]
        self.index.cp.seed = int(rng.integers(2**31 - 1))
        self.index.train(train)
        self.index.add(vectors)
        self.nprobe = 1

    def search(self, queries, k, threads):
        """Ids of the ``k`` nearest (best) items per query; ``-1`` pads."""
        faiss = _faiss()
        faiss.omp_set_num_threads(threads)
        queries = np.asarray(queries, dtype=np.float32)
        if self.augment:
            queries = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
        self.index.nprobe = self.nprobe
        _, ids = self.index.search(np.ascontiguousarray(queries), k)
        return ids.astype(np.int64)

    def calibrate(self, queries, exact_ids, k, recall, threads):
        """Smallest power-of-two ``nprobe`` whose recall@k on ``queries`` (against
        ``exact_ids``) reaches ``recall``; returns the recall reached."""
        limit = max(1, int(MAX_PROBE_SHARE * self.nlist))
        self.nprobe = 1
        while True:
            found = self.search(queries, k, threads)
            reached = recall_at(found, exact_ids)
            if reached >= recall or self.nprobe >= limit:
                return reached
            self.nprobe = min(2 * self.nprobe, limit)


def recall_at(found, exact):
    """Mean share of each row of ``exact`` (``-1`` ignored) found in ``found``."""
    shares = []
    for got, want in zip(found.tolist(), exact.tolist()):
        want = [w for w in want if w >= 0]
        if want:
            shares.append(len(set(got) & set(want)) / len(want))
    return float(np.mean(shares)) if shares else 1.0
