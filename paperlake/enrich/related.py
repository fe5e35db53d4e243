"""Related papers: each paper's RELATED most similar others by the cosine of their TF-IDF rows."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from paperlake.parallel import default_workers

RELATED = 5
MIN_RELATED_SIMILARITY = 0.01  # above noise: at least some shared informative terms
SIMILARITY_CHUNK = 1024  # papers per sparse product: memory stays at chunk x candidate pairs
# Exact cosine top 5 for every paper costs sum(df^2) = 8.6e10 multiply-adds at 92k papers (the commonest
# terms dominate), too slow. Candidates come from the terms in at most CANDIDATE_MAX_DF papers (4.2e9, half
# that once identical columns are merged), CANDIDATES per paper, then are ranked by their exact cosine:
# 96% of the exact top 5 at 92k papers; exact while no term is in more papers (corpora under ~2,000 papers).
CANDIDATE_MAX_DF = 1000
CANDIDATES = 20


def select_columns(matrix: sp.csr_matrix, order: np.ndarray | list[int]) -> sp.csr_matrix:
    """The matrix's columns `order`, in that order (the others dropped), indices sorted."""
    new = np.full(matrix.shape[1], -1, np.int64)
    new[order] = np.arange(len(order))
    moved = new[matrix.indices]
    mask = moved >= 0
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[mask]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=matrix.shape[0]))])
    out = sp.csr_matrix((matrix.data[mask], moved[mask], indptr), shape=(matrix.shape[0], len(order)))
    out.sort_indices()
    return out


def _merge_equal_columns(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Identical columns (the same weights in the same papers: the terms of a shared phrase) merged into
    one scaled by sqrt(count): every row product stays the same, for fewer multiply-adds. Columns are
    compared by a 64-bit hash of their (row, weight) pairs; none may be empty."""
    if not matrix.nnz:
        return matrix
    cols = matrix.tocsc()
    mix = cols.indices.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    mix ^= cols.data.view(np.uint32).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    mix ^= mix >> np.uint64(31)
    mix *= np.uint64(0xBF58476D1CE4E5B9)
    mix ^= mix >> np.uint64(29)
    lens = np.diff(cols.indptr)
    key = np.add.reduceat(mix, cols.indptr[:-1]) ^ lens.astype(np.uint64) * np.uint64(0x94D049BB133111EB)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return (cols[:, first] @ sp.diags(np.sqrt(counts).astype(np.float32))).tocsr()


def top_related(
    matrix: sp.csr_matrix, df: np.ndarray, ids: np.ndarray
) -> tuple[list[list[str]], list[list[float]]]:
    """Each row's RELATED most similar other rows (cosine >= MIN_RELATED_SIMILARITY, best first, then by
    id) and their exact similarities: candidates from a sparse product over the rarer terms (identical
    columns merged), ranked by their exact cosine (the rarer terms' part from that product, the commoner
    terms' part added per pair); a row with fewer than RELATED candidates is compared with every row.
    Chunks run on threads, which share the matrices (the sparse products and numpy kernels release the
    GIL; worker processes would copy them, see paperlake.parallel)."""
    common = df > CANDIDATE_MAX_DF
    rare = _merge_equal_columns(select_columns(matrix, np.flatnonzero((df >= 2) & ~common)))
    rare_t, frequent = rare.T.tocsr(), select_columns(matrix, np.flatnonzero(common))
    rank = np.argsort(np.argsort(ids, kind="stable"), kind="stable")

    def chunk(lo: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows from `lo`: per row its RELATED best rows (-1 pads) and similarities."""
        hi = min(lo + SIMILARITY_CHUNK, matrix.shape[0])
        cand, sims = _candidates((rare[lo:hi] @ rare_t).tocsr(), lo)
        sims += _pair_products(frequent, lo, hi, cand)
        short = np.flatnonzero((cand < 0).sum(axis=1) > CANDIDATES - RELATED)
        if frequent.shape[1] and len(short):
            cand[short], sims[short] = _exact(matrix, lo + short)
        ok = (cand >= 0) & (sims >= MIN_RELATED_SIMILARITY)
        order = np.lexsort((rank[np.maximum(cand, 0)], np.where(ok, -sims, np.inf)), axis=1)[:, :RELATED]
        ok = np.take_along_axis(ok, order, 1)
        top = np.where(ok, np.take_along_axis(cand, order, 1), -1)
        return top, np.where(ok, np.take_along_axis(sims, order, 1), np.float32(0))

    with ThreadPoolExecutor(default_workers()) as pool:
        chunks = list(pool.map(chunk, range(0, matrix.shape[0], SIMILARITY_CHUNK)))
    related = [ids[row[row >= 0]].tolist() for top, _ in chunks for row in top]
    scores = [s[row >= 0].tolist() for top, sims in chunks for row, s in zip(top, sims, strict=True)]
    return related, scores


def _padded(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Room for CANDIDATES candidates (-1 pads) and their similarities per row."""
    return np.full((rows, CANDIDATES), -1, np.int64), np.zeros((rows, CANDIDATES), np.float32)


def _candidates(sims: sp.csr_matrix, lo: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a similarity block starting at row `lo`: its CANDIDATES best other columns (-1 pads) and
    their similarities."""
    cand, vals = _padded(sims.shape[0])
    for k in range(sims.shape[0]):
        a, b = sims.indptr[k], sims.indptr[k + 1]
        c, v = sims.indices[a:b], sims.data[a:b]
        ok = c != lo + k
        c, v = c[ok], v[ok]
        if len(c) > CANDIDATES:
            top = np.argpartition(-v, CANDIDATES - 1)[:CANDIDATES]
            c, v = c[top], v[top]
        cand[k, : len(c)], vals[k, : len(c)] = c, v
    return cand, vals


def _pair_products(part: sp.csr_matrix, lo: int, hi: int, cand: np.ndarray) -> np.ndarray:
    """Row products of `part` between each row lo..hi and its candidates (0 for -1 pads)."""
    if not part.shape[1]:
        return np.zeros(cand.shape, np.float32)
    dense = part[lo:hi].toarray()
    other = np.maximum(cand, 0).ravel()
    lens = np.diff(part.indptr)[other] * (cand.ravel() >= 0)
    pos = np.repeat(part.indptr[other] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
    row = np.repeat(np.arange(cand.size) // cand.shape[1], lens)
    products = dense[row, part.indices[pos]] * part.data[pos]
    pair = np.repeat(np.arange(cand.size), lens)
    return np.bincount(pair, products, cand.size).reshape(cand.shape).astype(np.float32)


def _exact(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CANDIDATES most similar other rows of `rows` and their similarities, against every row."""
    sims = (matrix[rows] @ matrix.T).toarray()
    sims[np.arange(len(rows)), rows] = -1.0
    take = min(CANDIDATES, matrix.shape[0] - 1)
    cand, vals = _padded(len(rows))
    if take > 0:
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        cand[:, :take], vals[:, :take] = top, np.take_along_axis(sims, top, 1)
    return cand, vals
