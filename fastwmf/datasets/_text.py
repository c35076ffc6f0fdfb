"""Byte-level parsing of text tables: small Numba kernels over blocks of raw
bytes, with a thread inflating the next block (no pandas needed).

Kernels take a block of raw bytes that ends at a line end. No fastmath: the
number parser relies on exactly rounded float division.
"""

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit



_NJIT = {"cache": True, "nogil": True}

#: Exact powers of ten (10**22 is the largest exactly representable one).
_POW10 = np.array([10.0 ** k for k in range(23)])

#: Bytes of text parsed per block (bounds the parser's scratch memory).
_BLOCK_BYTES = 1 << 24

_OK, _BAD_FIELD_COUNT, _QUOTED = 0, 1, 2

#: Stands in for a multi-character separator inside the tokenizer.
_UNIT_SEPARATOR = 0x1F


@njit(**_NJIT)
def _tokenize(buf, sep, ncols, slots, trim_space, trim_tab, starts, ends, lines):
    """Split the lines of ``buf`` at the byte ``sep``; record the wanted fields.

    Blank lines are skipped, a ``\\r`` before ``\\n`` is dropped and fields are
    trimmed of spaces (and tabs when ``trim_tab``). ``slots[f]`` is the output
    column of field ``f`` or -1. Returns ``(rows, status, line, fields)``:
    status 0 when every line had ``ncols`` fields (``line`` is then the number
    of lines read), 1 at the first line (``line``, 0-based) that had
    ``fields`` fields instead, 2 at a line with a quote character (left to the
    csv module).
    """
    n = buf.shape[0]
    stop = n if n > 0 and buf[n - 1] == 10 else n + 1
    row = 0
    line = 0
    f = 0
    fs = 0
    nonblank = False
    for p in range(stop):
        c = buf[p] if p < n else np.uint8(10)
        if c == 10 or c == sep:
            if c == sep:
                nonblank = True
            if nonblank:
                if f < ncols and slots[f] >= 0:
                    a = fs
                    b = p
                    if c == 10 and b > a and buf[b - 1] == 13:
                        b -= 1
                    while a < b and ((trim_space and buf[a] == 32) or (trim_tab and buf[a] == 9)):
                        a += 1
                    while b > a and ((trim_space and buf[b - 1] == 32)
                                     or (trim_tab and buf[b - 1] == 9)):
                        b -= 1
                    starts[row, slots[f]] = a
                    ends[row, slots[f]] = b
                f += 1
            if c == 10:
                if nonblank:
                    if f != ncols:
                        return row, 1, line, f
                    lines[row] = line
                    row += 1
                line += 1
                f = 0
                nonblank = False
            fs = p + 1
        elif c == 34:
            return row, 2, line, f
        elif c != 32 and c != 9 and c != 13:
            nonblank = True
    return row, 0, line, 0


@njit(**_NJIT)
def _parse_floats(buf, starts, ends, col, pow10, out, slow):
    """Decimal numbers ``[+-]digits[.digits]`` of one column, exactly rounded.

    Anything else (exponents, more than 15-16 significant digits, words such
    as ``nan``, empty fields) is flagged in ``slow`` for Python's ``float``.
    Returns the number of flagged fields.
    """
    limit = (2 ** 53 - 10) // 10
    flagged = 0
    for r in range(starts.shape[0]):
        a = starts[r, col]
        b = ends[r, col]
        neg = False
        if a < b and (buf[a] == 45 or buf[a] == 43):
            neg = buf[a] == 45
            a += 1
        mantissa = 0
        scale = 0
        digits = 0
        dot = False
        ok = a < b
        for p in range(a, b):
            c = buf[p]
            if 48 <= c <= 57:
                if mantissa > limit:
                    ok = False
                    break
                mantissa = mantissa * 10 + (c - 48)
                digits += 1
                if dot:
                    scale += 1
            elif c == 46 and not dot:
                dot = True
            else:
                ok = False
                break
        if ok and digits > 0 and scale < pow10.shape[0]:
            value = mantissa / pow10[scale]
            out[r] = -value if neg else value
            slow[r] = False
        else:
            out[r] = np.nan
            slow[r] = True
            flagged += 1
    return flagged


@njit(**_NJIT)
def _parse_ints(buf, starts, ends, col, out):
    """Canonical integers (``-?[1-9][0-9]*|0``, at most 18 digits) of one column.

    Returns the first row holding anything else, or -1.
    """
    for r in range(starts.shape[0]):
        a = starts[r, col]
        b = ends[r, col]
        neg = a < b and buf[a] == 45
        if neg:
            a += 1
        if a >= b or b - a > 18 or (buf[a] == 48 and b - a > 1):
            return r
        value = 0
        for p in range(a, b):
            c = buf[p]
            if c < 48 or c > 57:
                return r
            value = value * 10 + (c - 48)
        if neg:
            if value == 0:
                return r
            value = -value
        out[r] = value
    return -1


@njit(**_NJIT)
def _gather(buf, starts, ends, col, out):
    """Copy one column's fields into the rows of ``out`` (zero padded)."""
    for r in range(starts.shape[0]):
        a = starts[r, col]
        for q in range(ends[r, col] - a):
            out[r, q] = buf[a + q]


class _Block:
    """Wanted fields of consecutive rows: byte offsets into one buffer."""

    def __init__(self, buf, starts, ends, lines):
        self.buf = buf          # uint8 array
        self.starts = starts    # (rows, wanted) int64
        self.ends = ends
        self.lines = lines      # (rows,) 1-based line numbers in the file

    def text(self, row, col):
        raw = bytes(self.buf[self.starts[row, col]:self.ends[row, col]])
        return raw.decode("utf-8", errors="replace")


class _Column:
    """Accumulates one column over blocks; ``prefix`` and ``label`` word errors."""

    def __init__(self, prefix, label):
        self.prefix = prefix
        self.label = label

    def _where(self, block, row):
        return f"at line {block.lines[row]} of {self.label}"


class _IdColumn(_Column):
    """Ids: int64 while every field is a canonical integer, else bytes strings."""

    def __init__(self, prefix, label, integers_only=False):
        super().__init__(prefix, label)
        self.integers_only = integers_only
        self.chunks = []
        self.as_bytes = False

    def add(self, block, col):
        n = block.starts.shape[0]
        if n == 0:
            return
        lengths = block.ends[:, col] - block.starts[:, col]
        if not lengths.all():
            row = int(np.argmin(lengths))
            raise ValueError(f"{self.prefix} has an empty id {self._where(block, row)}")
        if not self.as_bytes:
            out = np.empty(n, dtype=np.int64)
            bad = _parse_ints(block.buf, block.starts, block.ends, col, out)
            if bad < 0:
                self.chunks.append(out)
                return
            if self.integers_only:
                raise ValueError(f"{self.prefix} has a non-integer id "
                                 f"{block.text(bad, col)!r} {self._where(block, bad)}")
            self.as_bytes = True
            self.chunks = [chunk.astype(np.bytes_) for chunk in self.chunks]
        width = int(lengths.max())
        out = np.zeros((n, width), dtype=np.uint8)
        _gather(block.buf, block.starts, block.ends, col, out)
        self.chunks.append(out.view(f"S{width}").reshape(n))

    def result(self):
        if not self.chunks:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate(self.chunks)


class _FloatColumn(_Column):
    """Finite numbers; optionally non-negative, or integral (timestamps)."""

    def __init__(self, prefix, label, nonnegative=False, integral=False):
        super().__init__(prefix, label)
        self.nonnegative = nonnegative
        self.integral = integral
        self.chunks = []

    def add(self, block, col):
        n = block.starts.shape[0]
        if n == 0:
            return
        out = np.empty(n)
        slow = np.empty(n, dtype=np.bool_)
        if _parse_floats(block.buf, block.starts, block.ends, col, _POW10, out, slow):
            for row in np.flatnonzero(slow):
                text = block.text(row, col)
                try:
                    out[row] = float(text)
                except ValueError:
                    what = "an empty (missing) value" if text == "" else \
                        f"a non-numeric value {text!r}"
                    raise ValueError(f"{self.prefix} has {what} "
                                     f"{self._where(block, row)}") from None
        finite = np.isfinite(out)
        if not finite.all():
            row = int(np.argmin(finite))
            what = "NaN" if np.isnan(out[row]) else "an infinite value"
            raise ValueError(f"{self.prefix} has {what} ({block.text(row, col)!r}) "
                             f"{self._where(block, row)}")
        if self.nonnegative and (out < 0).any():
            row = int(np.argmax(out < 0))
            raise ValueError(f"{self.prefix} has a negative value {block.text(row, col)!r} "
                             f"{self._where(block, row)}; weights must be >= 0")
        if self.integral:
            bad = (out != np.round(out)) | (np.abs(out) >= 2.0 ** 62)
            if bad.any():
                row = int(np.argmax(bad))
                raise ValueError(f"{self.prefix} has a non-integer timestamp "
                                 f"{block.text(row, col)!r} {self._where(block, row)}; "
                                 f"timestamps must be integers (e.g. Unix seconds)")
            out = out.astype(np.int64)
        self.chunks.append(out)

    def result(self):
        dtype = np.int64 if self.integral else np.float64
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=dtype)


class _NeedsCsvModule(Exception):
    """The fast tokenizer met a quote character."""


def _text_blocks(stream, block_bytes=None):
    """Yield ``bytes`` blocks of whole lines (the last one may lack its ``\\n``)."""
    block_bytes = block_bytes or _BLOCK_BYTES
    rest = b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        if rest:
            data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        yield data[:cut + 1]
        rest = data[cut + 1:]
    if rest:
        yield rest


def _prefetched(blocks):
    """Iterate ``blocks`` while a worker thread reads (and inflates) the next one.

    zlib and the Numba kernels release the GIL, so decompression overlaps
    parsing; errors of the reader surface here, in order.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, blocks, None)
        while True:
            block = pending.result()
            if block is None:
                return
            pending = pool.submit(next, blocks, None)
            yield block


def _split_header(text, sep):
    names = [name.strip().strip('"').strip() for name in text.rstrip("\r\n").split(sep)]
    if names:
        names[0] = names[0].lstrip("\ufeff")
    return names


def _scan_fast(stream, sep, header, encoding, resolve, columns):
    """Parse a delimited text stream with the Numba tokenizer.

    ``resolve(names, ncols)`` maps the header (or None) to the list of field
    positions wanted, in the order of ``columns`` (objects with ``add``).
    Returns the header names (or None).
    """
    sep_bytes = sep.encode(encoding)
    # the tokenizer splits at one byte: a longer separator ("::") is replaced
    # by a control byte that does not occur in the text
    sep_byte = sep_bytes[0] if len(sep_bytes) == 1 else _UNIT_SEPARATOR
    trim_space = " " not in sep
    trim_tab = "\t" not in sep
    names = None
    ncols = None
    positions = slots = None
    line_base = 0
    scratch = None
    blocks = _prefetched(_text_blocks(stream))
    try:
        for raw in blocks:
            if ncols is None:
                # the first non-blank line gives the header or the field count
                offset = 0
                while True:
                    end = raw.find(b"\n", offset)
                    end = len(raw) if end < 0 else end
                    first = raw[offset:end]
                    if first.strip() or end >= len(raw):
                        break
                    line_base += 1
                    offset = end + 1
                if not first.strip():
                    line_base += raw.count(b"\n", offset)
                    continue
                try:
                    first_text = first.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise ValueError(f"encoding: line {line_base + 1} is not valid {encoding} "
                                     f"text ({exc})") from None
                if '"' in first_text:
                    raise _NeedsCsvModule
                fields = _split_header(first_text, sep)
                ncols = len(fields)
                if header:
                    names = fields
                    line_base += 1
                    raw = raw[end + 1:]
                else:
                    raw = raw[offset:]
                positions = resolve(names, ncols)
                slots = np.full(ncols, -1, dtype=np.int64)
                for slot, position in enumerate(positions):
                    if slots[position] < 0:
                        slots[position] = slot
                positions = [int(slots[p]) for p in positions]
            if len(sep_bytes) > 1:
                if bytes([_UNIT_SEPARATOR]) in raw:
                    raise ValueError(f"sep: the text holds the byte 0x1f, which the {sep!r} "
                                     f"separator needs internally")
                raw = raw.replace(sep_bytes, bytes([_UNIT_SEPARATOR]))
            buf = np.frombuffer(raw, dtype=np.uint8)
            capacity = raw.count(b"\n") + 1
            if scratch is None or len(scratch[2]) < capacity:
                # reused across blocks, not allocated per block (benchmarks/README.md)
                wanted = int((slots >= 0).sum())
                scratch = (np.empty((capacity, wanted), dtype=np.int32),
                           np.empty((capacity, wanted), dtype=np.int32),
                           np.empty(capacity, dtype=np.int64))
            starts, ends, lines = scratch
            rows, status, line, found = _tokenize(buf, np.uint8(sep_byte), ncols, slots,
                                                  trim_space, trim_tab, starts, ends, lines)
            if status == _QUOTED:
                raise _NeedsCsvModule
            if status == _BAD_FIELD_COUNT:
                raise _FieldCountError(line_base + line + 1, ncols, found)
            block = _Block(buf, starts[:rows], ends[:rows], lines[:rows] + line_base + 1)
            for column, slot in zip(columns, positions):
                column.add(block, slot)
            line_base += line
    finally:
        # stop the reader thread before anything else touches the stream
        blocks.close()
    if ncols is None:
        resolve(None, 0)
    return names


class _FieldCountError(Exception):
    def __init__(self, line, expected, found):
        super().__init__(line, expected, found)
        self.line, self.expected, self.found = line, expected, found


def _scan_csv_module(stream, sep, header, encoding, resolve, columns, rows_per_block=1 << 18):
    """Parse with the csv module (quoted fields); same blocks as the fast path."""
    if len(sep) != 1:
        raise ValueError(f"sep: quoted fields need a one-character separator, got {sep!r}")
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=sep, skipinitialspace=True, strict=True)
    names = None
    positions = None
    ncols = None
    fields, lines = [], []

    def flush():
        if not lines:
            return
        encoded = [field.encode("utf-8") for field in fields]
        lengths = np.fromiter((len(item) for item in encoded), dtype=np.int64, count=len(encoded))
        ends = np.cumsum(lengths).astype(np.int32)
        starts = ends - lengths.astype(np.int32)
        buf = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        shape = (len(lines), len(positions))
        block = _Block(buf, starts.reshape(shape), ends.reshape(shape),
                       np.asarray(lines, dtype=np.int64))
        for slot, column in enumerate(columns):
            column.add(block, slot)
        fields.clear()
        lines.clear()

    try:
        for record in reader:
            if not record or all(not item.strip() for item in record):
                continue
            if ncols is None:
                if record:
                    record[0] = record[0].lstrip("\ufeff")
                ncols = len(record)
                if header:
                    names = [item.strip() for item in record]
                    positions = resolve(names, ncols)
                    continue
                positions = resolve(None, ncols)
            if len(record) != ncols:
                raise _FieldCountError(reader.line_num, ncols, len(record))
            fields.extend(record[p].strip() for p in positions)
            lines.append(reader.line_num)
            if len(lines) >= rows_per_block:
                flush()
    except csv.Error as exc:
        raise ValueError(f"malformed CSV at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"encoding: the file is not valid {encoding} text ({exc})") from None
    flush()
    if ncols is None:
        resolve(None, 0)
    return names


# ============================================================ assembling CSR

def _encode_ids(raw, encoding="utf-8"):
    """``(sorted unique ids, index of each entry)``; bytes ids are decoded."""
    if raw.dtype.kind in "iu":
        raw = raw.astype(np.int64, copy=False)
        if raw.size == 0:
            return raw, raw
        low, high = int(raw.min()), int(raw.max())
        if low >= 0 and high < max(4 * raw.size, 1 << 20):
            present = np.zeros(high + 1, dtype=np.bool_)
            present[raw] = True
            lookup = np.cumsum(present, dtype=np.int64) - 1
            return np.flatnonzero(present).astype(np.int64), lookup[raw]
        unique, inverse = np.unique(raw, return_inverse=True)
        return unique, inverse.reshape(-1).astype(np.int64)
    unique, inverse = np.unique(raw, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    if unique.dtype.kind == "S":
        try:
            decoded = np.array([item.decode(encoding) for item in unique.tolist()], dtype=str)
        except UnicodeDecodeError as exc:
            raise ValueError(f"encoding: ids are not valid {encoding} text ({exc})") from None
    else:
        decoded = unique.astype(str)
    if decoded.size > 1 and not np.all(decoded[1:] > decoded[:-1]):
        order = np.argsort(decoded, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        decoded, inverse = decoded[order], rank[inverse]
    return decoded, inverse
