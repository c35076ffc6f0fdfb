"""Software prefetch: ask the core to start loading a cache line before it is read.

A kernel that knows which rows it will read a few iterations from now (an
SGD epoch reads the factor rows of the entries it visits next) can issue
their loads early, so that the cache misses of several visits overlap instead
of stalling one visit each. A prefetch is only a hint: it never faults, even
on an address outside the array, and it changes no value.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..._hardware import CACHE_LINE_BYTES


@intrinsic
def prefetch(typingctx, array, index):
    """Prefetch the cache line holding ``array[index]`` into every cache level.

    ``index`` is an integer for a 1-d array, or a tuple of integers, one per
    dimension. LLVM's ``llvm.prefetch`` (read, high locality, data cache);
    a no-op on targets without a prefetch instruction.
    """
    if not isinstance(array, types.Array):
        return None
    if isinstance(index, types.Integer):
        index_types = (index,)
    elif isinstance(index, types.BaseTuple) and all(
            isinstance(t, types.Integer) for t in index.types):
        index_types = tuple(index.types)
    else:
        return None
    if len(index_types) != array.ndim:
        return None
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        values = context.make_array(array_type)(context, builder, args[0])
        if len(index_types) == 1 and not isinstance(signature.args[1], types.BaseTuple):
            raw = [args[1]]
        else:
            raw = cgutils.unpack_tuple(builder, args[1], len(index_types))
        indices = [context.cast(builder, value, kind, types.intp)
                   for value, kind in zip(raw, index_types)]
        pointer = cgutils.get_item_pointer2(
            context, builder, data=values.data,
            shape=cgutils.unpack_tuple(builder, values.shape),
            strides=cgutils.unpack_tuple(builder, values.strides),
            layout=array_type.layout, inds=indices, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            "llvm.prefetch")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3),
                                int32(1)])
        return context.get_dummy_value()

    return sig, codegen


def prefetch_row(matrix, row, width):
    """Prefetch the first ``width`` entries of ``matrix[row]`` (C-contiguous rows).

    Callable from compiled code only. The step between prefetches (one cache
    line of entries) is fixed when the caller compiles, so that with a
    compile-time ``width`` the loop unrolls into bare prefetch instructions.
    """
    raise NotImplementedError("prefetch_row is called from Numba-compiled code")


@overload(prefetch_row, inline="always")
def _prefetch_row_impl(matrix, row, width):
    step = max(1, CACHE_LINE_BYTES * 8 // matrix.dtype.bitwidth)

    def impl(matrix, row, width):
        for t in range(0, width, step):
            prefetch(matrix, (row, t))
        # a row that does not start on a line boundary reaches into one more line
        prefetch(matrix, (row, width - 1))

    return impl
