"""``1 / sqrt(x)`` for a step size: a hardware estimate in float32.

An AdaGrad step ``rate / sqrt(sum)`` sits on the critical path of an SGD
visit: the sum takes the visit's own gradient, and the factor update waits
for the step. LLVM computes ``1 / sqrt`` in float32 as the ``rsqrtss``
estimate refined by one Newton step (four more dependent operations). A step
size needs no such precision, so :func:`inverse_sqrt` returns the estimate
itself (measured: benchmarks/README.md, "Kernel constants").
"""

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: ``rsqrtss`` exists on every x86-64 core (SSE); its relative error is at
#: most 1.5 * 2**-12. Other targets compute ``1 / sqrt(x)`` in full.
HAS_RSQRT_ESTIMATE = platform.machine().lower() in ("x86_64", "amd64")

#: The largest relative error of :func:`inverse_sqrt` in float32.
RSQRT_RELATIVE_ERROR = 1.5 * 2.0**-12


@intrinsic
def inverse_sqrt(typingctx, x):
    """``inverse_sqrt(x) -> 1 / sqrt(x)`` for ``x > 0``, in the type of ``x``.

    float32: within :data:`RSQRT_RELATIVE_ERROR` of the exact value (the
    x86 ``rsqrtss`` estimate; exact where the target has none). float64:
    ``1 / sqrt(x)`` rounded as usual. Callable from compiled code only.
    """
    if x not in (types.float32, types.float64):
        return None
    sig = x(x)

    def codegen(context, builder, signature, args):
        value = args[0]
        if value.type == ir.FloatType() and HAS_RSQRT_ESTIMATE:
            vector = ir.VectorType(value.type, 4)
            lane = ir.Constant(ir.IntType(32), 0)
            packed = builder.insert_element(ir.Constant(vector, ir.Undefined), value, lane)
            estimate = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vector, [vector]), "llvm.x86.sse.rsqrt.ss")
            return builder.extract_element(builder.call(estimate, [packed]), lane)
        suffix = "f32" if value.type == ir.FloatType() else "f64"
        sqrt = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(value.type, [value.type]), f"llvm.sqrt.{suffix}")
        return builder.fdiv(ir.Constant(value.type, 1.0), builder.call(sqrt, [value]))

    return sig, codegen
