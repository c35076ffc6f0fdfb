"""One register tile of a weighted Gram matrix ``S^T C S`` as LLVM vector code.

The exact ALS solver forms ``sum_q c_q s_q s_q^T`` for every row with more
stored entries than the Woodbury route takes. A BLAS ``gemm`` per row does
the whole ``d x d`` product and, for these short, thin operands, spends much
of its time packing them (benchmarks/README.md, "Kernel constants"). The
product is symmetric, so
only tiles on or above the diagonal are needed, and each tile's sums can
stay in registers for the whole reduction over ``q``, reading the operands
where they lie. Numba's loop vectoriser cannot keep an accumulator in a
register across an outer loop, so :func:`gram_tile` emits the loop itself.

Callable from compiled code only, on C-contiguous 2-d float arrays of one
dtype; the tile shape must be a compile-time constant and the indices are not
checked (kernel-internal).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..._hardware import SIMD_BYTES
from .vectorir import element_pointer, is_float_matrix, literal_positive, splat

#: Bytes of the vectors a tile's columns are made of: the host's registers, at
#: most AVX2's 32 bytes (the tile shapes were chosen for 16 registers of that
#: width; wider tiles on AVX-512 are unmeasured).
VECTOR_BYTES = min(SIMD_BYTES, 32)


def vector_length(dtype):
    """Entries of ``dtype`` (a numpy float type) in one SIMD register."""
    return VECTOR_BYTES // dtype(0).itemsize


@intrinsic
def gram_tile(typingctx, out, weighted, rows, count, r0, c0, tile_rows, tile_vectors):
    """``out[r0:r0+R, c0:c0+W] = weighted[:count, r0:r0+R]^T rows[:count, c0:c0+W]``.

    ``R = tile_rows`` and ``W = tile_vectors`` SIMD registers of columns (see
    :func:`vector_length`), both compile-time constants. The ``R x W`` sums are
    held in registers across the loop over ``q < count`` (fused multiply-adds
    in the arrays' dtype) and stored once; ``count = 0`` stores zeros.
    """
    if not (is_float_matrix(out) and out == weighted and out == rows
            and all(isinstance(x, types.Integer) for x in (count, r0, c0))):
        return None
    height = literal_positive(tile_rows, "tile_rows")
    vectors = literal_positive(tile_vectors, "tile_vectors")
    if height is None or vectors is None:
        return None
    sig = types.void(out, weighted, rows, count, r0, c0, tile_rows, tile_vectors)

    def codegen(context, builder, signature, args):
        matrix = signature.args[0]
        align = matrix.dtype.bitwidth // 8
        lanes = VECTOR_BYTES // align
        vector = ir.VectorType(context.get_value_type(matrix.dtype), lanes)
        intp = context.get_value_type(types.intp)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector] * 3),
            f"llvm.fma.v{lanes}f{matrix.dtype.bitwidth}")
        stop, row0, col0 = (context.cast(builder, value, kind, types.intp)
                            for value, kind in zip(args[3:6], signature.args[3:6]))
        columns = [builder.add(col0, ir.Constant(intp, c * lanes)) for c in range(vectors)]
        tile_row = [builder.add(row0, ir.Constant(intp, k)) for k in range(height)]

        def vector_at(array, row, col):
            pointer = element_pointer(context, builder, matrix, array, row, col)
            return builder.bitcast(pointer, vector.as_pointer())

        entry = builder.block
        header = builder.append_basic_block("gram_tile.header")
        body = builder.append_basic_block("gram_tile.body")
        done = builder.append_basic_block("gram_tile.done")
        builder.branch(header)

        builder.position_at_end(header)
        q = builder.phi(intp)
        q.add_incoming(ir.Constant(intp, 0), entry)
        sums = [[builder.phi(vector) for _ in range(vectors)] for _ in range(height)]
        zero = ir.Constant(vector, [0.0] * lanes)
        for phi in (phi for line in sums for phi in line):
            phi.add_incoming(zero, entry)
        builder.cbranch(builder.icmp_signed("<", q, stop), body, done)

        builder.position_at_end(body)
        loaded = [builder.load(vector_at(args[2], q, col), align=align) for col in columns]
        updated = []
        for k in range(height):
            weight = builder.load(element_pointer(context, builder, matrix, args[1], q,
                                                  tile_row[k]))
            spread = splat(builder, weight, lanes)
            updated.append([builder.call(fma, [spread, value, total])
                            for value, total in zip(loaded, sums[k])])
        latch = builder.block
        q.add_incoming(builder.add(q, ir.Constant(intp, 1)), latch)
        for line, new in zip(sums, updated):
            for phi, value in zip(line, new):
                phi.add_incoming(value, latch)
        builder.branch(header)

        builder.position_at_end(done)
        for k in range(height):
            for col, total in zip(columns, sums[k]):
                builder.store(total, vector_at(args[0], tile_row[k], col), align=align)
        return context.get_dummy_value()

    return sig, codegen
