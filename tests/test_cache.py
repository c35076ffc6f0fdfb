"""The package's Numba cache: one user-wide folder, keyed by all kernel sources."""

import os
import shutil
import subprocess
import sys
import textwrap

import numba.core.caching as caching

import fastwmf
from fastwmf import _cache
from fastwmf.kernels import loss

FIT = textwrap.dedent("""
    import fastwmf
    from fastwmf.datasets import make_implicit_interactions
    X = make_implicit_interactions(200, 50, 2_000, seed=0)
    fastwmf.WALS(factors=3, iterations=1, solver="cg", calculate_loss=False).fit(X)
""")


def _env(**values):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(values)
    return env


def test_package_functions_get_the_package_locator(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTWMF_CACHE_DIR", str(tmp_path))
    func = loss._observed_loss_chunk.py_func
    locator = _cache.PackageCacheLocator.from_function(func, loss.__file__)
    folder = tmp_path / _cache._kernels_hash()[:16] / "kernels"
    assert locator.get_cache_path() == str(folder)
    assert folder.is_dir()
    assert locator.get_disambiguator() == str(func.__code__.co_firstlineno)
    # functions outside the package are left to numba's own locators
    assert _cache.PackageCacheLocator.from_function(test_package_functions_get_the_package_locator,
                                                   __file__) is None
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    assert _cache.PackageCacheLocator in impl._locator_classes
    before = list(impl._locator_classes)
    _cache.install()
    assert impl._locator_classes == before  # idempotent


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTWMF_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _cache.cache_dir() == str(tmp_path / "fastwmf" / "numba")
    monkeypatch.setenv("FASTWMF_CACHE_DIR", str(tmp_path / "mine"))
    assert _cache.cache_dir() == str(tmp_path / "mine")


def test_stamp_changes_with_any_kernel_source(tmp_path, monkeypatch):
    # a copy of the package sources the hash reads, then one helper edited
    package = tmp_path / "fastwmf"
    shutil.copytree(os.path.join(_cache.PACKAGE_DIR, "kernels"), package / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in _cache.SHARED_SOURCES:
        shutil.copy(os.path.join(_cache.PACKAGE_DIR, name), package / name)
    monkeypatch.setattr(_cache, "PACKAGE_DIR", str(package))
    als = str(package / "kernels" / "als.py")
    _cache.clear_hashes()
    try:
        before = _cache._source_hash(als), _cache._kernels_hash()
        _cache.clear_hashes()
        assert (_cache._source_hash(als), _cache._kernels_hash()) == before
        stamps = {before}
        for edited in ("rowblock.py", "_llvm/rowhead.py"):  # the code generators too
            with open(package / "kernels" / edited, "a") as handle:
                handle.write("\n# edited\n")
            _cache.clear_hashes()
            stamps.add((_cache._source_hash(als), _cache._kernels_hash()))
        # each version gets its stamp and its folder
        assert len(stamps) == 3 and len({folder for _, folder in stamps}) == 3
    finally:
        _cache.clear_hashes()


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    env = _env(FASTWMF_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", FIT], env=env, check=True, timeout=600)
    folder = tmp_path / _cache._kernels_hash()[:16] / "kernels"
    written = sorted(p.name for p in folder.iterdir())
    assert any(name.startswith("als._cg_kernel") and name.endswith(".nbi") for name in written)
    assert any(name.endswith(".nbc") for name in written)
    # the second process compiles nothing: numba reports each dispatcher's cache hits
    probe = FIT + textwrap.dedent("""
        from fastwmf.kernels import specialise
        kernel = specialise.compiled_kernels("cg")[0][2]
        assert kernel.stats.cache_misses == {} and sum(kernel.stats.cache_hits.values()) >= 1
    """)
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=600)
    assert sorted(p.name for p in folder.iterdir()) == written


def test_numba_cache_dir_still_takes_precedence(tmp_path):
    env = _env(FASTWMF_CACHE_DIR=str(tmp_path / "ours"), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    subprocess.run([sys.executable, "-c", FIT], env=env, check=True, timeout=600)
    assert not any((tmp_path / "ours").rglob("*.nbi"))
    assert any((tmp_path / "numba").rglob("*.nbi"))


def test_the_package_imports_without_compiling():
    assert fastwmf.__version__


def test_compile_covers_binary_count_and_weighted_fits(tmp_path):
    env = _env(FASTWMF_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-m", "fastwmf", "compile", "--factors", "8", "--parts",
                    "wals"], env=env, check=True, timeout=600, capture_output=True)
    probe = textwrap.dedent("""
        import numpy as np
        import fastwmf
        from fastwmf.datasets import make_implicit_interactions
        from fastwmf.kernels import layout, loss, specialise
        X = make_implicit_interactions(300, 120, 3000, seed=1)
        B = X.copy()
        B.data[:] = 1.0
        for solver in ("cg", "cholesky"):
            for data, extra in ((X, {}), (B, {}), (X, {"weights": np.full(X.nnz, 2.0)})):
                model = fastwmf.WALS(factors=8, iterations=1, solver=solver).fit(data, **extra)
                model.loss(data, **extra)
        # fits whose long item rows are solved in lockstep (forced on small data)
        from fastwmf.kernels import longrows
        from fastwmf.models import _problem
        _problem.RENUMBER_MIN_ENTRIES = 0
        longrows.MIN_OTHER_BYTES = 0
        longrows.MIN_ENTRIES_PER_TILE = 1
        for data, extra in ((X, {}), (B, {}), (X, {"weights": np.full(X.nnz, 2.0)})):
            fastwmf.WALS(factors=8, iterations=1).fit(data, **extra)
        assert specialise.compiled_kernels("cg-long-pass")
        built = [kernel for _, _, kernel in specialise.compiled_kernels()]
        for kernel in built + [layout._count_columns, layout._column_offsets,
                               layout._scatter_columns, layout._gather_csr_chunk,
                               loss._observed_loss_chunk]:
            assert kernel.stats.cache_misses == {}, (kernel, kernel.stats.cache_misses)
    """)
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=600)


def test_hardware_constants_are_detected_and_sane():
    from fastwmf import _hardware
    from fastwmf.kernels import _llvm
    assert _hardware.SIMD_BYTES in (16, 32, 64)
    line = _hardware.CACHE_LINE_BYTES
    assert line >= 16 and line & (line - 1) == 0
    assert _llvm.VECTOR_BYTES == min(_hardware.SIMD_BYTES, 32)
    if "avx2" in _hardware.CPU_FEATURES:
        assert _hardware.SIMD_BYTES >= 32
