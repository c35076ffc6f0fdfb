"""The console script end to end on temporary files."""

import subprocess
import sys

import numpy as np
import pytest

import fastwmf
from fastwmf.cli import main
from fastwmf.datasets import make_planted_ratings


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Train and test TSV tables with string user ids and integer item ids."""
    folder = tmp_path_factory.mktemp("tables")
    X = make_planted_ratings(80, 40, density=0.3, seed=0).tocoo()
    rng = np.random.default_rng(0)
    in_test = rng.random(X.nnz) < 0.2
    paths = {}
    for name, mask in (("train", ~in_test), ("test", in_test)):
        path = folder / f"{name}.tsv"
        lines = ["user\titem\trating"] + [
            f"u{r}\t{100 + c}\t{v:.3f}" for r, c, v in zip(X.row[mask], X.col[mask], X.data[mask])]
        path.write_text("\n".join(lines) + "\n")
        paths[name] = path
    return paths


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_recommend_evaluate_round_trip(tables, tmp_path, capsys):
    model_path = tmp_path / "model.npz"
    code, out, err = run(capsys, "-q", "fit", tables["train"], "-o", model_path,
                         "--value-col", "rating", "--factors", "4", "--iterations", "3",
                         "--w0", "0.05")
    assert code == 0, err
    model = fastwmf.load_model(model_path)
    assert model.user_ids_[0] == "u0" and model.item_ids_.dtype.kind == "i"

    code, out, err = run(capsys, "recommend", model_path, "--users", "u3", "u7", "-k", "5",
                         "--exclude", tables["train"], "--value-col", "rating")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 11
    seen = {line.split("\t")[1] for line in tables["train"].read_text().splitlines()
            if line.startswith("u3\t")}
    recommended = [line.split("\t") for line in lines[1:] if line.startswith("u3\t")]
    assert len(recommended) == 5 and not seen & {row[2] for row in recommended}
    items = [str(i) for i in model.item_ids_]
    labels, _ = model.recommend("u3", k=5, exclude=_training_row(tables["train"], "u3", items))
    assert [row[2] for row in recommended] == [str(label) for label in labels]

    # the saved model remembers its training items: no --exclude needed
    code, out, err = run(capsys, "recommend", model_path, "--users", "u3", "-k", "5")
    assert code == 0, err
    assert [line.split("\t")[2] for line in out.strip().splitlines()[1:]] == \
        [str(label) for label in labels]
    code, out, err = run(capsys, "recommend", model_path, "--users", "u3", "-k", "5",
                         "--include-seen")
    assert code == 0, err
    everything, _ = model.recommend("u3", k=5, exclude_seen=False)
    assert [line.split("\t")[2] for line in out.strip().splitlines()[1:]] == \
        [str(label) for label in everything]

    code, out, err = run(capsys, "evaluate", model_path, "--train", tables["train"],
                         "--test", tables["test"], "--value-col", "rating", "-k", "5")
    assert code == 0, err
    metrics = dict(line.split("\t") for line in out.strip().splitlines())
    assert 0.0 <= float(metrics["ndcg@5"]) <= 1.0 and float(metrics["rmse"]) > 0


def _training_row(path, user, items):
    import scipy.sparse as sp
    cols = [items.index(line.split("\t")[1]) for line in path.read_text().splitlines()
            if line.startswith(user + "\t")]
    return sp.csr_matrix((np.ones(len(cols)), (np.zeros(len(cols), dtype=int), cols)),
                         shape=(1, len(items)))


def test_tune_prints_table_and_refits(tables, tmp_path, capsys):
    out_model = tmp_path / "best.npz"
    plot = tmp_path / "w0.png"
    code, out, err = run(capsys, "-q", "tune", tables["train"], "--binarize", "--factors", "3",
                         "--iterations", "2", "--w0-grid", "0.01", "0.1", "--metric", "recall@5",
                         "-o", out_model, *(["--plot", plot] if _has_matplotlib() else []))
    assert code == 0, err
    assert "| w0 | recall@5 |" in out and "best:" in out
    assert fastwmf.load_model(out_model).n_users == 80
    if _has_matplotlib():
        assert plot.stat().st_size > 0


def test_tune_with_a_budget_searches_and_refits(tables, tmp_path, capsys):
    out_model = tmp_path / "searched.npz"
    code, out, err = run(capsys, "-q", "tune", tables["train"], "--binarize", "--budget", "2s",
                         "-o", out_model)
    assert code == 0, err
    assert "| w0 | regularization |" in out and "trials in" in out
    model = fastwmf.load_model(out_model)
    assert model.n_users == 80 and model.user_ids_ is not None
    code, out, err = run(capsys, "-q", "tune", tables["train"], "--budget", "soon")
    assert code != 0 and "--budget" in err


def test_fit_bayes_model(tables, tmp_path, capsys):
    model_path = tmp_path / "bayes.npz"
    code, out, err = run(capsys, "-q", "fit", tables["train"], "-o", model_path,
                         "--value-col", "rating", "--model", "bayes", "--samples", "6",
                         "--burn-in", "2")
    assert code == 0, err
    model = fastwmf.load_model(model_path)
    assert isinstance(model, fastwmf.BayesianMF)
    assert model.factors == 16 and model.n_samples_ == 6 and model.n_iter_ == 8
    code, out, err = run(capsys, "-q", "fit", tables["train"], "-o", model_path,
                         "--model", "bayes", "--samples", "0")
    assert code != 0 and "samples" in err


def _has_matplotlib():
    import importlib.util
    return importlib.util.find_spec("matplotlib") is not None


def test_matrix_market_input(tmp_path, capsys):
    import scipy.io
    X = make_planted_ratings(30, 20, density=0.3, seed=1)
    scipy.io.mmwrite(tmp_path / "x.mtx", X)
    code, out, err = run(capsys, "-q", "fit", tmp_path / "x.mtx", "-o", tmp_path / "m.npz",
                         "--model", "popularity")
    assert code == 0, err
    assert fastwmf.load_model(tmp_path / "m.npz").n_items == 20


@pytest.mark.parametrize("argv,needle", [
    (["fit", "{missing}", "-o", "{out}"], "no file"),
    (["fit", "{train}", "-o", "{out}", "--factors", "0"], "factors"),
    (["fit", "{train}", "-o", "{out}", "--value-col", "nope"], "nope"),
    (["recommend", "{missing}", "--users", "u1"], "no model file"),
    (["recommend", "{model}", "--users", "nobody"], "--users"),
    (["recommend", "{model}", "--users", "u1", "-k", "0"], "k"),
    (["evaluate", "{model}", "--train", "{train}", "--test", "{train}", "--metrics", "bogus"],
     "metrics"),
    (["tune", "{train}", "--metric", "ndcg"], "metric"),
], ids=["missing-input", "bad-factors", "unknown-column", "missing-model", "unknown-user",
        "bad-k", "unknown-metric", "metric-without-cutoff"])
def test_bad_input_gives_one_line_and_exit_2(tables, tmp_path, capsys, argv, needle):
    model_path = tmp_path / "model.npz"
    assert main(["-q", "fit", str(tables["train"]), "-o", str(model_path), "--factors", "2",
                 "--iterations", "1"]) == 0
    capsys.readouterr()
    values = {"missing": tmp_path / "absent.tsv", "out": tmp_path / "o.npz",
              "train": tables["train"], "model": model_path}
    code, out, err = run(capsys, "-q", *[a.format(**values) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastwmf: error:") and needle in lines[0]


def test_console_script_help_and_subprocess(tmp_path):
    result = subprocess.run([sys.executable, "-m", "fastwmf", "fit", "--help"],
                            capture_output=True, text=True, check=True)
    for option in ("--user-col", "--w0", "--binarize", "--output"):
        assert option in result.stdout


def test_compile_runs_every_path_for_the_given_settings(capsys):
    from fastwmf import precompile
    from fastwmf.kernels import specialise

    assert main(["compile", "--factors", "4", "--parts", "wals", "serving"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines[:-1]] == ["wals", "serving"]
    assert lines[-1].startswith("compiled in ")
    # both half-step kernels of width 8, float32, are built
    built = {(kind, *key) for kind, key, _ in specialise.compiled_kernels()}
    assert {("cg", 8, np.float32), ("exact", 8, np.float32)} <= built
    steps = precompile.compile_kernels([4], ["float64"], ["sgd"])
    assert [(f, d, p) for f, d, p, _ in steps] == [(4, "float64", "sgd")]
    with pytest.raises(ValueError, match="parts"):
        precompile.compile_kernels([4], parts=["serving"])
    with pytest.raises(ValueError, match="factors"):
        precompile.compile_kernels([0])
