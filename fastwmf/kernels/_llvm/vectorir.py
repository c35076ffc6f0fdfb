"""LLVM IR helpers shared by the intrinsics that emit vector code directly.

Numba runs LLVM without its SLP vectoriser, so straight-line arithmetic on a
few columns stays scalar; the intrinsics in :mod:`.rowhead` and
:mod:`.gramtile` build ``<n x float>`` values themselves with these helpers.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import RequireLiteralValue


def is_float_matrix(array):
    """Whether a Numba type is a C-contiguous 2-d float array."""
    return (isinstance(array, types.Array) and array.ndim == 2 and array.layout == "C"
            and isinstance(array.dtype, types.Float))


def literal_positive(value, name):
    """The value of a literal integer argument, or None when it is below 1.

    Typing a non-literal raises RequireLiteralValue, which makes Numba retry
    with the literal value where the caller's value is a compile-time constant.
    """
    if not isinstance(value, types.IntegerLiteral):
        raise RequireLiteralValue(f"{name} must be a compile-time constant")
    if value.literal_value < 1:
        return None
    return value.literal_value


def element_pointer(context, builder, array_type, array, row, col):
    """Pointer to ``array[row, col]`` (``row`` and ``col`` as intp values)."""
    values = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer2(
        context, builder, data=values.data, shape=cgutils.unpack_tuple(builder, values.shape),
        strides=cgutils.unpack_tuple(builder, values.strides), layout=array_type.layout,
        inds=[row, col], wraparound=False)


def splat(builder, value, size):
    """A ``<size x type>`` vector with every lane ``value``."""
    vector = ir.VectorType(value.type, size)
    single = builder.insert_element(ir.Constant(vector, ir.Undefined), value,
                                    ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(single, ir.Constant(vector, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), size), [0] * size))
