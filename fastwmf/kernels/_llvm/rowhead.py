"""The first few columns of two factor rows as single LLVM vector operations.

Numba runs LLVM without its SLP vectoriser, and LLVM unrolls a loop whose
trip count is known and short (up to about 16) into scalar code before its
loop vectoriser runs. The SGD epoch's warm-up head (8 columns by default)
would compile that way: its three sums and its update, written as loops,
would cost more instructions than the rest of the visit. These
intrinsics load the head of a row as one ``<size x float>`` value instead.

Callable from compiled code only, on C-contiguous 2-d float arrays with at
least ``size`` columns; ``size`` must be a compile-time constant (a literal, or
a global or closure variable); the row indices are not checked
(kernel-internal).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .vectorir import element_pointer, is_float_matrix, literal_positive, splat


def _head_pointer(context, builder, array_type, array, row, size):
    """Pointer to ``array[row, 0:size]`` as one ``<size x dtype>`` vector."""
    pointer = element_pointer(context, builder, array_type, array, row,
                              ir.Constant(row.type, 0))
    vector = ir.VectorType(context.get_value_type(array_type.dtype), size)
    return builder.bitcast(pointer, vector.as_pointer())


def _row_index(context, builder, value, kind):
    return context.cast(builder, value, kind, types.intp)


def _combine_rows(context, builder, signature, args, width, keep_u, take_u, keep_v, take_v):
    """Emit ``u = keep_u u + take_u v`` and ``v = keep_v v + take_v u`` over the first
    ``width`` columns of ``u = U[i]``, ``v = V[j]`` (``args``: ``U, V, i, j, ...``;
    coefficients: ``<width x dtype>`` vectors)."""
    matrix, _, row_kind, col_kind = signature.args[:4]
    align = matrix.dtype.bitwidth // 8
    pu = _head_pointer(context, builder, matrix, args[0],
                       _row_index(context, builder, args[2], row_kind), width)
    pv = _head_pointer(context, builder, matrix, args[1],
                       _row_index(context, builder, args[3], col_kind), width)
    u = builder.load(pu, align=align)
    v = builder.load(pv, align=align)
    flags = ("contract",)
    new_u = builder.fadd(builder.fmul(keep_u, u, flags=flags),
                         builder.fmul(take_u, v, flags=flags), flags=flags)
    new_v = builder.fadd(builder.fmul(keep_v, v, flags=flags),
                         builder.fmul(take_v, u, flags=flags), flags=flags)
    builder.store(new_u, pu, align=align)
    builder.store(new_v, pv, align=align)


@intrinsic
def head_sums(typingctx, U, V, i, j, size):
    """``head_sums(U, V, i, j, size) -> (u.v, |u|^2, |v|^2)`` over the first
    ``size`` columns of ``u = U[i]`` and ``v = V[j]``, summed in the arrays'
    dtype, as float64."""
    if not (is_float_matrix(U) and U == V and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None
    width = literal_positive(size, "size")
    if width is None:
        return None
    sig = types.UniTuple(types.float64, 3)(U, V, i, j, size)

    def codegen(context, builder, signature, args):
        matrix, _, row_kind, col_kind = signature.args[:4]
        align = matrix.dtype.bitwidth // 8
        u = builder.load(_head_pointer(context, builder, matrix, args[0],
                                       _row_index(context, builder, args[2], row_kind),
                                       width), align=align)
        v = builder.load(_head_pointer(context, builder, matrix, args[1],
                                       _row_index(context, builder, args[3], col_kind),
                                       width), align=align)
        scalar = u.type.element
        suffix = "f32" if matrix.dtype.bitwidth == 32 else "f64"
        reduce = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(scalar, [scalar, u.type]),
            f"llvm.vector.reduce.fadd.v{width}{suffix}")
        out = []
        for a, b in ((u, v), (u, u), (v, v)):
            total = builder.call(reduce, [ir.Constant(scalar, 0.0), builder.fmul(a, b)],
                                 fastmath=("reassoc", "nsz"))
            out.append(context.cast(builder, total, matrix.dtype, types.float64))
        return context.make_tuple(builder, signature.return_type, out)

    return sig, codegen


def _float_quad(steps):
    """Whether ``steps`` is a tuple of four floats (a visit's step coefficients)."""
    return (isinstance(steps, types.BaseTuple) and len(steps) == 4
            and all(isinstance(t, types.Float) for t in steps.types))


def _unpack_steps(context, builder, steps, kind, dtype):
    """The four coefficients of a ``steps`` tuple, cast to ``dtype``."""
    return [context.cast(builder, builder.extract_value(steps, k), kind.types[k], dtype)
            for k in range(4)]


@intrinsic
def head_update(typingctx, U, V, i, j, steps, size):
    """``head_update(U, V, i, j, steps, size)``: with ``steps = (keep_u, take_u,
    keep_v, take_v)``, the first ``size`` columns of ``u = U[i]`` and ``v = V[j]``
    become ``keep_u u + take_u v`` and ``keep_v v + take_v u`` (coefficients
    cast to the arrays' dtype)."""
    if not (is_float_matrix(U) and U == V and isinstance(i, types.Integer)
            and isinstance(j, types.Integer) and _float_quad(steps)):
        return None
    width = literal_positive(size, "size")
    if width is None:
        return None
    sig = types.void(U, V, i, j, steps, size)

    def codegen(context, builder, signature, args):
        dtype = signature.args[0].dtype
        coefficients = [splat(builder, value, width) for value in
                        _unpack_steps(context, builder, args[4], signature.args[4], dtype)]
        _combine_rows(context, builder, signature, args, width, *coefficients)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def split_update(typingctx, U, V, i, j, head_steps, tail_steps, size, head):
    """``split_update(U, V, i, j, head_steps, tail_steps, size, head)``:
    :func:`head_update` over the first ``size`` columns, with the coefficients
    ``head_steps`` on columns ``[0, head)`` and ``tail_steps`` on ``[head,
    size)`` (``0 < head < size``, both compile-time constants). One vector
    operation per row, whose two parts' coefficients are blended: two calls,
    one per part, loaded and stored each row twice, and split the rest of the
    row into narrower vectors where ``head`` is not a whole number of
    registers."""
    if not (is_float_matrix(U) and U == V and isinstance(i, types.Integer)
            and isinstance(j, types.Integer) and _float_quad(head_steps)
            and _float_quad(tail_steps)):
        return None
    width = literal_positive(size, "size")
    split = literal_positive(head, "head")
    if width is None or split is None or split >= width:
        return None
    sig = types.void(U, V, i, j, head_steps, tail_steps, size, head)

    def codegen(context, builder, signature, args):
        dtype = signature.args[0].dtype
        mask = ir.Constant(ir.VectorType(ir.IntType(1), width),
                           [int(t < split) for t in range(width)])
        first = _unpack_steps(context, builder, args[4], signature.args[4], dtype)
        second = _unpack_steps(context, builder, args[5], signature.args[5], dtype)
        coefficients = [builder.select(mask, splat(builder, a, width), splat(builder, b, width))
                        for a, b in zip(first, second)]
        _combine_rows(context, builder, signature, args, width, *coefficients)
        return context.get_dummy_value()

    return sig, codegen
