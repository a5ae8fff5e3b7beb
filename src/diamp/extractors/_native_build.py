"""Build the native code of a kernel module from numba's IR (private; see ``_native``).

Imported only when a cache file must be (re)built: it imports numba and the kernel module.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from diamp.errors import ExtractionError

__all__ = ["LIBC_SYMBOLS", "build"]

LIBC_SYMBOLS = ("memset", "memcpy", "memmove")
"""The only external calls the kernels may make (the C library's, resolved when loading)."""

log = logging.getLogger("diamp.extractors._native")

_DTOR = "NRT_MemInfo_call_dtor"
# NRT_decref (inlined in every kernel) calls the destructor of a meminfo whose count drops to
# zero; the wrappers pass no meminfo (NULL), so it is never reached: trap if it ever were.
_DTOR_STUB = f"""
define void @{_DTOR}(ptr %m) {{
  call void @llvm.trap()
  unreachable
}}
declare void @llvm.trap()
"""


def _kernel_names(mod: ModuleType) -> list[str]:
    from numba.core.registry import CPUDispatcher

    return sorted(
        name
        for name, value in vars(mod).items()
        if isinstance(value, CPUDispatcher)
        and value.__module__ == mod.__name__
        and value.signatures
        and not name.startswith("_")
    )


def _arg_spec(nbtype: Any) -> dict[str, Any]:
    from numba import types

    if isinstance(nbtype, types.Array):
        if nbtype.layout != "C":
            raise ExtractionError(f"native kernels take C-order arrays, found {nbtype}")
        return {
            "kind": "array",
            "dtype": str(nbtype.dtype),
            "ndim": nbtype.ndim,
            "readonly": not nbtype.mutable,
        }
    if isinstance(nbtype, types.Boolean):
        return {"kind": "int", "bits": 8}
    if isinstance(nbtype, types.Integer):
        return {"kind": "int", "bits": int(nbtype.bitwidth)}  # type: ignore[attr-defined]
    if isinstance(nbtype, types.Float) and nbtype.bitwidth == 64:
        return {"kind": "float", "bits": 64}
    raise ExtractionError(f"native kernels cannot pass arguments of type {nbtype}")


def _returns(nbtype: Any) -> str:
    from numba import types

    if nbtype == types.void or nbtype == types.none:
        return "none"
    if isinstance(nbtype, types.Integer):
        if nbtype.bitwidth != 64:  # type: ignore[attr-defined]
            raise ExtractionError(f"native kernels return 64-bit integers, found {nbtype}")
        return "int"
    if isinstance(nbtype, types.Float) and nbtype.bitwidth == 64:
        return "float"
    raise ExtractionError(f"native kernels cannot return {nbtype}")


def _wrapper_ir(symbol: str, native: Any, specs: list[dict[str, Any]], name: str) -> str:
    """LLVM IR of the C-ABI wrapper ``symbol`` around the numba entry point ``native``."""
    native_args = [str(a.type) for a in native.arguments]
    params = ["ptr %ret"]
    call = ["ptr %ret", "ptr %exc"]
    body: list[str] = []
    pos = 2  # after the return and exception slots
    for i, spec in enumerate(specs):
        if spec["kind"] == "array":
            nd = spec["ndim"]
            itemsize = _itemsize(spec["dtype"])
            params.append(f"ptr %a{i}")
            params += [f"i64 %a{i}s{d}" for d in range(nd)]
            for d in range(nd):  # C-order strides, in bytes
                body.append(_stride_ir(i, d, nd, itemsize))
            body.append(_size_ir(i, nd))
            call += ["ptr null", "ptr null", f"i64 %a{i}n", f"i64 {itemsize}", f"ptr %a{i}"]
            call += [f"i64 %a{i}s{d}" for d in range(nd)]
            call += [f"i64 %a{i}t{d}" for d in range(nd)]
            pos += 5 + 2 * nd
        elif spec["kind"] == "float":
            params.append(f"double %v{i}")
            call.append(f"{native_args[pos]} %v{i}")
            pos += 1
        else:
            want = native_args[pos]
            params.append(f"i64 %v{i}")
            if want == "i64":
                call.append(f"i64 %v{i}")
            else:
                body.append(f"  %c{i} = trunc i64 %v{i} to {want}")
                call.append(f"{want} %c{i}")
            pos += 1
    if pos != len(native_args):
        raise ExtractionError(
            f"kernel {name}: numba's entry point takes {len(native_args)} arguments, the "
            f"signature accounts for {pos}"
        )
    lines = [
        f'declare i32 @"{native.name}"({", ".join(native_args)})',
        f"define i32 @{symbol}({', '.join(params)}) {{",
        "  %exc = alloca ptr",
        "  store ptr null, ptr %exc",
        *body,
        f'  %st = call i32 @"{native.name}"({", ".join(call)})',
        "  ret i32 %st",
        "}",
    ]
    return "\n".join(lines)


def _itemsize(dtype: str) -> int:
    import numpy as np

    return int(np.dtype(dtype).itemsize)


def _stride_ir(i: int, d: int, nd: int, itemsize: int) -> str:
    if d == nd - 1:
        return f"  %a{i}t{d} = add i64 0, {itemsize}"
    factors = [f"%a{i}s{e}" for e in range(d + 1, nd)]
    out, prev = [], str(itemsize)
    for k, f in enumerate(factors):
        name = f"%a{i}t{d}" if k == len(factors) - 1 else f"%a{i}t{d}_{k}"
        out.append(f"  {name} = mul i64 {prev}, {f}")
        prev = name
    return "\n".join(out)


def _size_ir(i: int, nd: int) -> str:
    if nd == 1:
        return f"  %a{i}n = add i64 0, %a{i}s0"
    out, prev = [], f"%a{i}s0"
    for d in range(1, nd):
        name = f"%a{i}n" if d == nd - 1 else f"%a{i}n_{d}"
        out.append(f"  {name} = mul i64 {prev}, %a{i}s{d}")
        prev = name
    return "\n".join(out)


def build(
    module: str, key: dict[str, Any], shared: Path | None = None
) -> tuple[dict[str, Any], bytes]:
    """Compile ``module``'s kernels to one object file; its header and the code.

    With ``shared`` and a system linker (``ld``), the kernels are also linked into the shared
    library ``shared`` (position-independent code), which later processes load with
    :mod:`ctypes` alone; the header records its name and SHA-256.
    """
    import llvmlite.binding as llvm

    mod = importlib.import_module(module)
    names = _kernel_names(mod)
    if not names:
        raise ExtractionError(f"{module} defines no typed kernels")
    combined = None
    target = None
    kernels: dict[str, Any] = {}
    wrappers: list[str] = []
    for name in names:
        dispatcher = getattr(mod, name)
        if len(dispatcher.overloads) != 1:
            raise ExtractionError(f"kernel {module}.{name} must have exactly one signature")
        ((sig, cres),) = dispatcher.overloads.items()
        library = cres.library
        target = library._codegen._tm
        ir = llvm.parse_bitcode(library._get_module_for_linking().as_bitcode())
        entry = cres.fndesc.mangled_name
        for fn in ir.functions:
            if not fn.is_declaration:
                fn.linkage = "external" if fn.name == entry else "internal"
        native = ir.get_function(entry)
        specs = [_arg_spec(t) for t in sig]
        symbol = f"diamp_kernel_{module.rsplit('.', 1)[-1].lstrip('_')}_{name}"
        wrappers.append(_wrapper_ir(symbol, native, specs, name))
        returns = _returns(cres.signature.return_type)
        kernels[name] = {"symbol": symbol, "args": specs, "returns": returns}
        # strip the Python-object wrappers before linking the modules together
        _dce(ir, target)
        if combined is None:
            combined = ir
        else:
            combined.link_in(ir)
    if combined is None or target is None:  # not reached: names is not empty
        raise ExtractionError(f"{module}: no kernel was compiled")
    declared = {fn.name for fn in combined.functions if fn.is_declaration}
    if _DTOR in declared:
        combined.link_in(llvm.parse_assembly(_DTOR_STUB))
        combined.get_function(_DTOR).linkage = "internal"
    combined.link_in(llvm.parse_assembly("\n".join(wrappers)))
    for fn in combined.functions:
        if not fn.is_declaration and not fn.name.startswith("diamp_kernel_"):
            fn.linkage = "internal"
    _dce(combined, target)
    combined.verify()
    unresolved = sorted(
        fn.name
        for fn in combined.functions
        if fn.is_declaration and not fn.name.startswith("llvm.") and fn.name not in LIBC_SYMBOLS
    )
    if unresolved:
        raise ExtractionError(f"{module}: native code would call {', '.join(unresolved)}")
    obj = bytes(target.emit_object(combined))
    header = {"key": key, "kernels": kernels, "sha256": hashlib.sha256(obj).hexdigest()}
    if shared is not None:
        linked = _link_shared(combined, library._codegen, shared)
        if linked is not None:
            header["shared_object"] = linked
    return header, obj


def _link_shared(ir: Any, codegen: Any, path: Path) -> dict[str, str] | None:
    """Link ``ir`` into the shared library ``path``; its name and digest, or None."""
    import llvmlite.binding as llvm

    linker = shutil.which("ld")
    if linker is None:
        log.info("no system linker (ld): native kernels load through llvmlite")
        return None
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=codegen._get_host_cpu_name(),
        features=codegen._tm_features,
        opt=3,
        reloc="pic",
        codemodel="default",
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            obj, lib = Path(tmp) / "kernels.o", Path(tmp) / path.name
            obj.write_bytes(bytes(machine.emit_object(ir)))
            subprocess.run(
                [linker, "-shared", "-o", str(lib), str(obj)],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            data = lib.read_bytes()
            os.replace(lib, path)
    except (OSError, subprocess.SubprocessError) as err:
        log.warning("linking %s failed (%s): native kernels load through llvmlite", path, err)
        return None
    return {"name": path.name, "sha256": hashlib.sha256(data).hexdigest()}


def _dce(ir: Any, target: Any) -> None:
    import llvmlite.binding as llvm

    builder = llvm.create_pass_builder(target, llvm.create_pipeline_tuning_options())
    passes = llvm.create_new_module_pass_manager()
    passes.add_global_dead_code_eliminate_pass()
    passes.add_strip_dead_prototype_pass()
    passes.run(ir, builder)
