"""MovieLens loaders, verified downloads and the generic table loader.

No test touches the network: downloads come from ``file://`` URLs of archives
built here, or from a patched ``urlopen``.
"""

import csv
import gzip
import hashlib
import io
import json
import pathlib
import socket
import sys
import urllib.error
import zipfile

import numpy as np
import pytest

import fastwmf.datasets as ds
from fastwmf import _download
from fastwmf.datasets import (ChecksumError, DownloadError, InteractionData, fetch_movielens,
                              load_interactions, load_movielens, movielens_path,
                              read_ml100k_file)

REPO = pathlib.Path(__file__).resolve().parents[1]
MANIFEST = REPO / "datasets" / "manifest.json"
ML100K = REPO.parent / "shared" / "datasets" / "ml-100k.zip"

RELEASES = list(ds.MOVIELENS_RELEASES)

# (user, item, rating, timestamp), deliberately out of order
ROWS = [(7, 25, 4.0, 978300763), (1, 10, 4.0, 978300760), (2, 3, 1.0, 978300764),
        (1, 3, 3.0, 978300761), (2, 10, 5.0, 978300762)]
HALF_STAR_ROWS = [(7, 25, 0.5, 978300763), (1, 10, 4.5, 978300760), (2, 3, 1.0, 978300764),
                  (1, 3, 3.5, 978300761), (2, 10, 5.0, 978300762)]
# other members of each release, so that the archives look like the real ones
EXTRA_MEMBERS = {
    "ml-100k": ["u.item", "u.user", "u1.base", "README"],
    "ml-1m": ["movies.dat", "users.dat", "README"],
    "ml-10m": ["movies.dat", "tags.dat", "README.html"],
    "ml-20m": ["movies.csv", "tags.csv", "links.csv", "README.txt"],
    "ml-25m": ["movies.csv", "tags.csv", "genome-scores.csv", "README.txt"],
    "ml-latest-small": ["movies.csv", "tags.csv", "links.csv", "README.txt"],
}


def ratings_text(name, rows):
    """A ratings file of ``name`` in its official format."""
    release = ds.MOVIELENS_RELEASES[name]
    lines = ["userId,movieId,rating,timestamp"] if release["header"] else []
    for user, item, rating, stamp in rows:
        # "4" and "4.5" in the .data/.dat files, "4.0" and "4.5" in the .csv files
        shown = f"{rating:.1f}" if release["header"] else f"{rating:g}"
        lines.append(release["sep"].join([str(user), str(item), shown, str(stamp)]))
    return "\n".join(lines) + "\n"


def build_archive(directory, name, rows=None, text=None, member=None,
                  compression=zipfile.ZIP_DEFLATED):
    """Write ``<directory>/<name>.zip`` in the official layout of ``name``."""
    release = ds.MOVIELENS_RELEASES[name]
    rows = rows if rows is not None else (ROWS if name == "ml-100k" else HALF_STAR_ROWS)
    text = text if text is not None else ratings_text(name, rows)
    member = member or release["member"]
    folder = member.split("/")[0]
    path = pathlib.Path(directory) / release["url"].rsplit("/", 1)[-1]
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(folder + "/", "")
        archive.writestr(member, text)
        for extra in EXTRA_MEMBERS[name]:
            archive.writestr(f"{folder}/{extra}", "not ratings\n")
    return path


def sha256_of(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Build an archive for a release and point the release table at it."""
    def serve(name, **kwargs):
        source = tmp_path / "server"
        source.mkdir(exist_ok=True)
        path = build_archive(source, name, **kwargs)
        entry = dict(ds.MOVIELENS_RELEASES[name], url=path.as_uri(), sha256=sha256_of(path),
                     size=path.stat().st_size)
        monkeypatch.setitem(ds.MOVIELENS_RELEASES, name, entry)
        return path
    return serve


@pytest.fixture
def count_opens(monkeypatch):
    """Count calls of the URL opener used by downloads."""
    calls = []
    real = _download.urlopen

    def counting(*args, **kwargs):
        calls.append(args[0].full_url if hasattr(args[0], "full_url") else args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(_download, "urlopen", counting)
    return calls


def check_expected(data, name):
    rows = ROWS if name == "ml-100k" else HALF_STAR_ROWS
    assert isinstance(data, InteractionData)
    assert data.name == name
    assert data.shape == (3, 3) and data.nnz == len(rows)
    assert data.user_ids.tolist() == [1, 2, 7]
    assert data.item_ids.tolist() == [3, 10, 25]
    assert data.user_ids.dtype == np.int64 and data.matrix.dtype == np.float64
    assert data.timestamps.dtype == np.int64
    assert np.array_equal(data.timestamps.indptr, data.matrix.indptr)
    assert np.array_equal(data.timestamps.indices, data.matrix.indices)
    for user, item, rating, stamp in rows:
        i, j = data.user_index(user), data.item_index(item)
        assert data.matrix[i, j] == rating
        assert data.timestamps[i, j] == stamp
    data.matrix.check_format(full_check=True)
    assert data.matrix.has_sorted_indices


# ------------------------------------------------------------ the real archive

@pytest.mark.realdata
@pytest.mark.skipif(not ML100K.is_file(), reason="../shared/datasets/ml-100k.zip absent")
def test_real_ml100k_archive():
    data = load_movielens("ml-100k", path=ML100K)
    assert data.nnz == 100_000 and data.shape == (943, 1682)
    assert np.array_equal(data.user_ids, np.arange(1, 944))
    assert np.array_equal(data.item_ids, np.arange(1, 1683))
    users = np.arange(943)
    assert np.array_equal(data.user_index(data.user_id(users)), users)
    items = np.arange(1682)
    assert np.array_equal(data.item_index(data.item_id(items)), items)
    # the first line of u.data: 196 242 3 881250949
    assert data.user_index(196) == 195 and data.item_id(241) == 242
    assert data.matrix[195, 241] == 3.0 and data.timestamps[195, 241] == 881250949
    assert data.timestamps.nnz == 100_000 and data.timestamps.data.min() > 8e8
    assert set(np.unique(data.matrix.data)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert (data.matrix != read_ml100k_file(ML100K)).nnz == 0


# --------------------------------------------------- each release's layout

@pytest.mark.parametrize("name", RELEASES)
def test_each_release_layout_loads_from_a_local_archive(tmp_path, name):
    path = build_archive(tmp_path, name)
    check_expected(load_movielens(name, path=path), name)


@pytest.mark.parametrize("name", ["ml-1m", "ml-20m"])
def test_stored_archive_and_extracted_directory_load_too(tmp_path, name):
    path = build_archive(tmp_path, name, compression=zipfile.ZIP_STORED)
    check_expected(load_movielens(name, path=path), name)
    extracted = tmp_path / "extracted"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(extracted)
    check_expected(load_movielens(name, path=extracted), name)
    member = ds.MOVIELENS_RELEASES[name]["member"]
    check_expected(load_movielens(name, path=extracted / member.split("/")[0]), name)
    check_expected(load_movielens(name, path=extracted / member), name)


def test_many_blocks_parse_like_one(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    pairs = rng.choice(400 * 300, size=3000, replace=False)
    rows = [(int(p // 300) + 1, int(p % 300) * 7 + 1, float(rng.integers(1, 11)) / 2,
             int(rng.integers(8e8, 1.5e9))) for p in pairs]
    path = build_archive(tmp_path, "ml-10m", rows=rows)
    whole = load_movielens("ml-10m", path=path)
    monkeypatch.setattr(ds._text, "_BLOCK_BYTES", 97)
    pieces = load_movielens("ml-10m", path=path)
    for attr in ("matrix", "timestamps"):
        assert (getattr(whole, attr) != getattr(pieces, attr)).nnz == 0
    assert np.array_equal(whole.user_ids, pieces.user_ids)
    dense = np.zeros(whole.shape)
    for user, item, rating, _ in rows:
        dense[whole.user_index(user), whole.item_index(item)] = rating
    assert np.array_equal(whole.matrix.toarray(), dense)


def test_crlf_blank_lines_and_missing_final_newline(tmp_path):
    text = "1::10::4::978300760\r\n\r\n2::3::1::978300764\r\n  \n7::25::4::978300763"
    data = load_movielens("ml-1m", path=build_archive(tmp_path, "ml-1m", text=text))
    assert data.nnz == 3 and data.matrix[data.user_index(7), data.item_index(25)] == 4.0


# ----------------------------------------------------------- broken archives

def test_unknown_release_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="^name must be one of"):
        load_movielens("ml-2m", path=tmp_path)
    with pytest.raises(FileNotFoundError, match="^path: no ml-1m archive"):
        load_movielens("ml-1m", path=tmp_path / "nowhere.zip")
    with pytest.raises(FileNotFoundError, match="^path: .* is a directory without"):
        load_movielens("ml-1m", path=tmp_path)
    with pytest.raises(TypeError, match="^path must be"):
        load_movielens("ml-1m", path=3)


def test_truncated_archive_is_reported(tmp_path):
    path = build_archive(tmp_path, "ml-1m")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="^path: .*truncated or corrupted"):
        load_movielens("ml-1m", path=path)


def test_bytes_that_are_not_a_zip_are_reported(tmp_path):
    path = tmp_path / "ml-1m.zip"
    path.write_bytes(b"<html>Service unavailable</html>" * 10)
    with pytest.raises(ValueError, match="not a valid ml-1m zip archive"):
        load_movielens("ml-1m", path=path)


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_corrupted_member_data_is_reported(tmp_path, compression):
    rows = [(u, i, 3.0, 978300000 + u * i) for u in range(1, 60) for i in range(1, 40)]
    path = build_archive(tmp_path, "ml-1m", rows=rows, compression=compression)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("ml-1m/ratings.dat")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    middle = start + info.compress_size // 2
    raw[middle:middle + 16] = bytes(16)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_movielens("ml-1m", path=path)


def test_missing_member_is_reported(tmp_path):
    path = build_archive(tmp_path, "ml-10m", member="ml-10m/ratings.dat")
    with pytest.raises(ValueError, match="has no member 'ml-10M100K/ratings.dat'"):
        load_movielens("ml-10m", path=path)


@pytest.mark.parametrize("name,text,pattern", [
    ("ml-1m", "1::10::4::978300760\n2::3::1\n", "line 2 of ml-1m/ratings.dat is malformed: 3 "),
    ("ml-1m", "1::10::4::978300760\n2::3::1::5::6\n", "line 2 .* 5 fields"),
    ("ml-100k", "1\t10\t4\t978300760\n2\t3\tx\t978300764\n",
     "column 'rating' has a non-numeric value 'x' at line 2"),
    ("ml-100k", "1\t10\t4\t978300760\n2\t3\t\t978300764\n",
     "column 'rating' has an empty .* at line 2"),
    ("ml-20m", "userId,movieId,rating,timestamp\n1,10,4.0,978300760\nu2,3,1.0,1\n",
     "column 'userId' has a non-integer id 'u2' at line 3"),
    ("ml-25m", "userId,movieId,rating,timestamp\n1,10,nan,978300760\n",
     "column 'rating' has NaN .* at line 2"),
    ("ml-25m", "userId,movieId,rating,timestamp\n1,10,4.0,97830.5\n",
     "column 'timestamp' has a non-integer timestamp"),
    ("ml-latest-small", "user,movie,rating,timestamp\n1,10,4.0,978300760\n", "has the header"),
    ("ml-latest-small", "userId,movieId,rating,timestamp\n", "holds no ratings"),
    ("ml-10m", "1::10::4.5::978300760\n1::10::3.5::978300761\n", "more than one row for user 1"),
    ("ml-1m", '1::10::"4"::978300760\n', "quote"),
])
def test_malformed_rows_are_reported_with_their_line(tmp_path, name, text, pattern):
    path = build_archive(tmp_path, name, text=text)
    with pytest.raises(ValueError, match=f"^{name}: .*{pattern}"):
        load_movielens(name, path=path)


# ------------------------------------------------------ downloads and the cache

@pytest.mark.parametrize("name", RELEASES)
def test_download_into_the_cache_once(tmp_path, served, count_opens, name):
    served(name)
    cache = tmp_path / "cache"
    check_expected(load_movielens(name, cache_dir=cache), name)
    assert len(count_opens) == 1
    check_expected(load_movielens(name, cache_dir=cache, download=False), name)
    assert fetch_movielens(name, cache_dir=cache) == movielens_path(name, cache)
    assert len(count_opens) == 1  # the cached archive is reused
    assert sorted(p.name for p in cache.iterdir()) == [movielens_path(name).name]


def test_cache_directory_comes_from_the_environment(tmp_path, served, monkeypatch):
    served("ml-100k")
    monkeypatch.setenv("FASTWMF_DATA", str(tmp_path / "env-cache"))
    assert movielens_path("ml-100k") == tmp_path / "env-cache" / "ml-100k.zip"
    check_expected(load_movielens("ml-100k"), "ml-100k")
    assert (tmp_path / "env-cache" / "ml-100k.zip").is_file()
    monkeypatch.delenv("FASTWMF_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert movielens_path("ml-1m") == tmp_path / "xdg" / "fastwmf" / "ml-1m.zip"


def test_checksum_mismatch_leaves_nothing_in_the_cache(tmp_path, served, monkeypatch):
    served("ml-1m")
    entry = dict(ds.MOVIELENS_RELEASES["ml-1m"], sha256="0" * 64)
    monkeypatch.setitem(ds.MOVIELENS_RELEASES, "ml-1m", entry)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="^ml-1m: sha256 of the download .* discarded"):
        load_movielens("ml-1m", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_size_mismatch_leaves_nothing_in_the_cache(tmp_path, served, monkeypatch):
    served("ml-20m")
    entry = dict(ds.MOVIELENS_RELEASES["ml-20m"])
    entry["size"] += 1
    monkeypatch.setitem(ds.MOVIELENS_RELEASES, "ml-20m", entry)
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="bytes, expected"):
        fetch_movielens("ml-20m", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_tampered_cached_archive_is_refused(tmp_path, served):
    served("ml-latest-small")
    cache = tmp_path / "cache"
    path = fetch_movielens("ml-latest-small", cache_dir=cache)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="has sha256 .* delete it to download it again"):
        load_movielens("ml-latest-small", cache_dir=cache)
    path.write_bytes(bytes(raw[:-10]))
    with pytest.raises(ChecksumError, match="bytes, expected"):
        load_movielens("ml-latest-small", cache_dir=cache)


def test_no_network_gives_a_manual_download_hint(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(_download, "urlopen", offline)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="no network") as info:
        load_movielens("ml-25m", cache_dir=cache)
    message = str(info.value)
    assert ds.MOVIELENS_RELEASES["ml-25m"]["url"] in message
    assert str(cache / "ml-25m.zip") in message and "by hand" in message
    assert list(cache.iterdir()) == []

    def stalled(*args, **kwargs):
        raise socket.timeout("timed out")

    monkeypatch.setattr(_download, "urlopen", stalled)
    with pytest.raises(DownloadError, match="timed out"):
        load_movielens("ml-25m", cache_dir=cache)
    assert isinstance(DownloadError("x"), ConnectionError)


def test_http_errors_and_cut_off_transfers(tmp_path, monkeypatch):
    def not_found(request, timeout=None):
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)

    monkeypatch.setattr(_download, "urlopen", not_found)
    with pytest.raises(DownloadError, match="404 Not Found"):
        fetch_movielens("ml-1m", cache_dir=tmp_path)

    class CutOff(io.BytesIO):
        headers = {"Content-Length": "1000"}

    monkeypatch.setattr(_download, "urlopen", lambda request, timeout=None: CutOff(b"x" * 10))
    with pytest.raises(DownloadError, match="stopped after 10 of 1000 bytes"):
        fetch_movielens("ml-1m", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_false_and_unverifiable_releases(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="not in the cache .* download=False"):
        load_movielens("ml-10m", cache_dir=tmp_path, download=False)
    with pytest.raises(TypeError, match="^download must be True or False"):
        load_movielens("ml-10m", cache_dir=tmp_path, download="no")
    entry = dict(ds.MOVIELENS_RELEASES["ml-10m"], sha256=None)
    monkeypatch.setitem(ds.MOVIELENS_RELEASES, "ml-10m", entry)
    with pytest.raises(ValueError, match="^name: no published sha256 .* pass its location"):
        load_movielens("ml-10m", cache_dir=tmp_path)
    check_expected(load_movielens("ml-10m", path=build_archive(tmp_path, "ml-10m")), "ml-10m")


def test_python_table_matches_the_manifest():
    manifest = json.loads(MANIFEST.read_text())["datasets"]
    for name, release in ds.MOVIELENS_RELEASES.items():
        entry = manifest[name]
        assert entry["url"] == release["url"], name
        assert entry["sha256"] == release["sha256"], name
        assert entry["size"] == release["size"], name
        assert entry["ratings_member"] == release["member"], name
        assert entry["ratings_format"]["sep"] == release["sep"], name
        assert entry["ratings_format"]["header"] == release["header"], name
        assert entry["url"].startswith("https://files.grouplens.org/datasets/movielens/")
        assert release["sha256"] is None or len(release["sha256"]) == 64
        assert entry["sha256_source"] and entry["licence"]
    assert {k for k in manifest if k.startswith("ml-")} == set(ds.MOVIELENS_RELEASES)


# ------------------------------------------------------------ the id mapping

def test_id_lookups_both_ways_and_their_errors(tmp_path):
    data = load_movielens("ml-1m", path=build_archive(tmp_path, "ml-1m"))
    assert data.user_index(7) == 2 and isinstance(data.user_index(7), int)
    assert data.user_index([7, 1]).tolist() == [2, 0]
    assert data.item_id(1) == 10 and data.item_id([2, 0]).tolist() == [25, 3]
    with pytest.raises(ValueError, match=r"^ids: unknown user id \[5\]"):
        data.user_index(5)
    with pytest.raises(TypeError, match="^ids must be integer item ids"):
        data.item_index("10")
    with pytest.raises(ValueError, match="^index must lie in"):
        data.user_id(3)
    assert "shape=(3, 3)" in repr(data)


# ---------------------------------------------------------- generic tables

def write(path, text, opener=open):
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


def test_csv_with_string_ids_header_and_weights(tmp_path):
    path = write(tmp_path / "events.csv",
                 "user,item,rating,conf,when\n"
                 "alice,x,4,1,100\nbob,y,3.5,2,200\nalice,y,5,0.5,300\n")
    data = load_interactions(path, "user", "item", "rating", weight_col="conf",
                             timestamp_col="when")
    assert data.user_ids.tolist() == ["alice", "bob"] and data.item_ids.tolist() == ["x", "y"]
    assert data.matrix.toarray().tolist() == [[4.0, 5.0], [0.0, 3.5]]
    assert data.weights.toarray().tolist() == [[1.0, 0.5], [0.0, 2.0]]
    assert data.timestamps.toarray().tolist() == [[100, 300], [0, 200]]
    assert data.user_index("bob") == 1 and data.item_index(["y", "x"]).tolist() == [1, 0]
    assert data.user_id(1) == "bob" and data.item_id([0]).tolist() == ["x"]
    with pytest.raises(ValueError, match="unknown user id"):
        data.user_index("carol")
    with pytest.raises(TypeError, match="string user ids"):
        data.user_index(3)


def test_tsv_without_header_is_implicit_and_sums_repeats(tmp_path):
    path = write(tmp_path / "clicks.tsv", "10\t7\n20\t7\n10\t7\n10\t8\n")
    data = load_interactions(path, 0, 1, header=False)
    assert data.user_ids.tolist() == [10, 20] and data.item_ids.tolist() == [7, 8]
    assert data.matrix.toarray().tolist() == [[2.0, 1.0], [1.0, 0.0]]
    assert data.weights is None and data.timestamps is None


@pytest.mark.parametrize("policy,expected", [("sum", 7.0), ("first", 3.0), ("last", 4.0)])
def test_duplicate_policies(tmp_path, policy, expected):
    path = write(tmp_path / "r.csv", "u,i,r,t\n1,1,3,10\n2,1,1,5\n1,1,4,30\n")
    data = load_interactions(path, "u", "i", "r", timestamp_col="t", duplicates=policy)
    assert data.matrix[0, 0] == expected and data.nnz == 2
    assert data.timestamps[0, 0] == {"sum": 30, "first": 10, "last": 30}[policy]
    with pytest.raises(ValueError, match="more than one row for user 1 and item 1"):
        load_interactions(path, "u", "i", "r", duplicates="error")


def test_ids_keep_their_type(tmp_path):
    path = write(tmp_path / "ids.csv", "u,i\n007,1\n7,2\n-3,3\n")
    data = load_interactions(path, "u", "i")
    assert data.user_ids.tolist() == ["-3", "007", "7"]  # "007" is not the integer 7
    assert data.item_ids.dtype == np.int64
    path = write(tmp_path / "neg.csv", "u,i\n-3,1\n0,1\n12,1\n")
    assert load_interactions(path, "u", "i").user_ids.tolist() == [-3, 0, 12]


def test_ids_switch_to_strings_in_a_later_block(tmp_path, monkeypatch):
    lines = [f"{u},{u % 5}" for u in range(1, 200)] + ["zed,1"]
    path = write(tmp_path / "late.csv", "u,i\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(ds._text, "_BLOCK_BYTES", 64)
    data = load_interactions(path, "u", "i")
    assert data.user_ids.dtype.kind == "U" and len(data.user_ids) == 200
    assert data.user_index("zed") == 199 and data.user_index("10") == 1


def test_quoted_fields_multichar_separator_bom_and_gzip(tmp_path):
    path = write(tmp_path / "quoted.csv",
                 '\ufeffuser,item,rating\n"Smith, J",x,1\n"O""Brien",x,2\n"Smith, J",y,3\n')
    data = load_interactions(path, "user", "item", "rating")
    assert data.user_ids.tolist() == ["O\"Brien", "Smith, J"]
    assert data.matrix.toarray().tolist() == [[2.0, 0.0], [1.0, 3.0]]
    path = write(tmp_path / "colons.txt", "a::b::2\nc::b::3\n")
    data = load_interactions(path, 0, 1, 2, sep="::", header=False)
    assert data.matrix.toarray().ravel().tolist() == [2.0, 3.0]
    path = write(tmp_path / "packed.csv.gz", "u,i,r\n1,2,5\n", opener=gzip.open)
    assert load_interactions(path, "u", "i", "r").matrix[0, 0] == 5.0
    path = write(tmp_path / "spaced.csv", "u, i, r\r\n 1, 2 , 5\r\n\r\n")
    data = load_interactions(path, "u", "i", "r")
    assert data.user_ids.tolist() == [1] and data.matrix[0, 0] == 5.0


def test_generic_loader_matches_the_csv_module(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    names = np.array(["ana", "bo", "c\u00e9line", "dee", "eve", "f", "gus"])
    lines = ["who,what,score"]
    for _ in range(500):
        lines.append(f"{rng.choice(names)}{rng.integers(30)},{rng.integers(1, 90)},"
                     f"{rng.normal():.6g}")
    path = write(tmp_path / "random.csv", "\n".join(lines) + "\n")
    monkeypatch.setattr(ds._text, "_BLOCK_BYTES", 200)
    data = load_interactions(path, "who", "what", "score", duplicates="last")
    expected = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            expected[(record["who"], int(record["what"]))] = float(record["score"])
    assert data.nnz == len(expected)
    for (who, what), score in expected.items():
        assert data.matrix[data.user_index(who), data.item_index(what)] == score


@pytest.mark.parametrize("text,kwargs,exc,pattern", [
    ("u,i,r\n1,2,nan\n", {"value_col": "r"}, ValueError,
     "^value_col: column 'r' has NaN .* line 2"),
    ("u,i,r\n1,2,inf\n", {"value_col": "r"}, ValueError, "^value_col: .* infinite"),
    ("u,i,r\n1,2,\n", {"value_col": "r"}, ValueError, "^value_col: .* empty .*line 2"),
    ("u,i,r\n1,2,5\n3,4,five\n", {"value_col": 2}, ValueError,
     "^value_col: column 'r' has a non-numeric value 'five' at line 3 of t.csv"),
    ("u,i,w\n1,2,-1\n", {"weight_col": "w"}, ValueError, "^weight_col: .* negative"),
    ("u,i,t\n1,2,3.5\n", {"timestamp_col": "t"}, ValueError, "^timestamp_col: .* non-integer"),
    ("u,i\n1,2\n,3\n", {}, ValueError, "^user_col: column 'u' has an empty id at line 3"),
    ("u,i\n1,2\n3,4,5\n", {}, ValueError, "^path: line 3 of t.csv has 3 fields, expected 2"),
    ("u,i\n", {}, ValueError, "^path: t.csv holds no rows"),
    ("", {}, ValueError, "^path: t.csv holds no rows"),
    ("u,i\n1,2\n", {"value_col": "rating"}, ValueError, "^value_col: no column named 'rating'"),
    ("u,i\n1,2\n", {"value_col": 5}, ValueError, "^value_col: column 5 is out of range"),
    ("u,i\n1,2\n", {"value_col": "i"}, ValueError, "^value_col names the same column as item_col"),
    ("u,i\n1,2\n", {"value_col": 0}, ValueError, "^value_col names the same column as user_col"),
    ("u,i\n1,2\n", {"value_col": 1.5}, TypeError, "^value_col must be a column name"),
    ("u,i\n1,2\n", {"duplicates": "max"}, ValueError, "^duplicates must be one of"),
    ("u,i\n1,2\n", {"header": "yes"}, TypeError, "^header must be True or False"),
    ('u,i\n"1,2\n', {}, ValueError, "malformed CSV|fields"),
])
def test_generic_loader_errors_name_the_argument(tmp_path, text, kwargs, exc, pattern):
    path = write(tmp_path / "t.csv", text)
    kwargs = dict(kwargs)
    user, item = kwargs.pop("user_col", "u"), kwargs.pop("item_col", "i")
    with pytest.raises(exc, match=pattern):
        load_interactions(path, user, item, **kwargs)


def test_generic_loader_path_and_separator_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="^path: no file"):
        load_interactions(tmp_path / "none.csv", "u", "i")
    path = write(tmp_path / "data.txt", "1 2\n")
    with pytest.raises(ValueError, match="^sep: cannot infer"):
        load_interactions(path, 0, 1, header=False)
    assert load_interactions(path, 0, 1, sep=" ", header=False).nnz == 1
    with pytest.raises(ValueError, match="^user_col: column names need header=True"):
        load_interactions(path, "u", 1, sep=" ", header=False)
    with pytest.raises(ValueError, match="^sep must be"):
        load_interactions(path, 0, 1, sep="", header=False)
    with pytest.raises(ValueError, match="^encoding: unknown"):
        load_interactions(path, 0, 1, sep=" ", header=False, encoding="klingon")
    packed = gzip.compress(b"u,i\n" + b"".join(b"%d,%d\n" % (k, 7 * k) for k in range(20000)))
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="^path: cannot read broken.csv.gz: .*truncated"):
        load_interactions(broken, "u", "i")
    broken.write_bytes(b"<html>not gzip</html>")
    with pytest.raises(ValueError, match="^path: cannot read broken.csv.gz"):
        load_interactions(broken, "u", "i")


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match="needs pyarrow"):
        load_interactions(path, "u", "i")


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"user": ["b", "a", "b"], "item": [5, 6, 6], "rating": [1.0, 2.0, 3.0],
                      "w": [1.0, 1.0, 2.0]})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    data = load_interactions(path, "user", "item", "rating", weight_col=3)
    assert data.user_ids.tolist() == ["a", "b"] and data.item_ids.tolist() == [5, 6]
    assert data.matrix.toarray().tolist() == [[0.0, 2.0], [1.0, 3.0]]
    assert data.weights.toarray().tolist() == [[0.0, 1.0], [1.0, 2.0]]
    pq.write_table(pa.table({"user": ["a"], "item": [1], "rating": [float("nan")]}), path)
    with pytest.raises(ValueError, match="^value_col: column 'rating' has NaN"):
        load_interactions(path, "user", "item", "rating")
    with pytest.raises(ValueError, match="^user_col: no column named 'u'"):
        load_interactions(path, "u", "item")
