#!/usr/bin/env python3
"""The KSTATE talk's example from Python with ctypes: a live update across two processes.

    talk.py save REGION      generation 1: fill struct a, register it, finalize, exit
    talk.py restore REGION   generation 2 (a new python process): boot, restore struct a, print it

libkstate.so is found through KSTATE_LIBRARY (a path), else pkg-config's libdir for kstate (set PKG_CONFIG_PATH to
PREFIX/lib/pkgconfig for an installed prefix), else the loader's search path (libkstate.so.0).
Python has no compile-time checks: the field list is built from the ctypes structure's own offsets and sizes.
"""
import ctypes
import os
import subprocess
import sys

KS_END, KS_BASE_TYPE, KS_POINTER, KS_FOLIO = 0, 1, 2, 3
KSTATE_TEST_ID = 0x4B53544154455445


class KStateDescription(ctypes.Structure):
    pass


FieldCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class KStateField(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("offset", ctypes.c_size_t),
        ("size", ctypes.c_size_t),
        ("kind", ctypes.c_int),
        ("version_id", ctypes.c_int),
        ("count", ctypes.c_size_t),
        ("ksd", ctypes.POINTER(KStateDescription)),
        ("save", FieldCallback),
        ("restore", FieldCallback),
    ]


KStateDescription._fields_ = [
    ("name", ctypes.c_char_p),
    ("id", ctypes.c_uint64),
    ("version_id", ctypes.c_int),
    ("min_version_id", ctypes.c_int),
    ("fields", ctypes.POINTER(KStateField)),
    ("subsections", ctypes.c_void_p),
    ("needed", ctypes.c_void_p),
    ("pre_save", ctypes.c_void_p),
    ("post_load", ctypes.c_void_p),
]


class A(ctypes.Structure):
    """struct a { int i; unsigned long *p_ulong; char s[10]; struct folio *folio; }"""
    _fields_ = [
        ("i", ctypes.c_int),
        ("p_ulong", ctypes.POINTER(ctypes.c_ulong)),
        ("s", ctypes.c_char * 10),
        ("folio", ctypes.c_void_p),
    ]


def field(name, kind, size):
    return KStateField(name.encode(), getattr(A, name).offset, size, kind, 0, 1)


A_FIELDS = (KStateField * 5)(
    field("i", KS_BASE_TYPE, ctypes.sizeof(ctypes.c_int)),
    field("s", KS_BASE_TYPE, ctypes.sizeof(ctypes.c_char * 10)),
    field("p_ulong", KS_POINTER, ctypes.sizeof(ctypes.c_ulong)),
    field("folio", KS_FOLIO, ctypes.sizeof(ctypes.c_void_p)),
    KStateField(None, 0, 0, KS_END, 0, 0),
)
A_STATE = KStateDescription(b"a_struct", KSTATE_TEST_ID, 1, 1, A_FIELDS)


def find_library():
    path = os.environ.get("KSTATE_LIBRARY")
    if path:
        return path
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "kstate"], capture_output=True, text=True,
                                check=True).stdout.strip()
        if libdir:
            return os.path.join(libdir, "libkstate.so")
    except (OSError, subprocess.CalledProcessError):
        pass
    return "libkstate.so.0"


def load(path):
    lib = ctypes.CDLL(path)
    ptr, u64, uint = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint
    for name, restype, argtypes in [
        ("kho_init", ctypes.c_int, [ctypes.c_char_p, u64]),
        ("kho_exit", ctypes.c_int, []),
        ("kho_finalize", ctypes.c_int, []),
        ("is_kho_boot", ctypes.c_bool, []),
        ("kho_folio_alloc", ptr, [uint]),
        ("kho_folio_address", ptr, [ptr]),
        ("kho_folio_order", uint, [ptr]),
        ("kstate_register", ctypes.c_int, [ctypes.POINTER(KStateDescription), ptr, u64]),
        ("kstate_restore", ctypes.c_int, [ctypes.POINTER(KStateDescription), ptr, u64]),
        ("kstate_strerror", ctypes.c_char_p, [ctypes.c_int]),
        ("kstate_last_error", ctypes.c_char_p, []),
        ("kstate_version", ctypes.c_char_p, []),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


class KStateError(Exception):
    def __init__(self, lib, what, err):
        super().__init__(f"{what}: {lib.kstate_strerror(err).decode()} ({lib.kstate_last_error().decode()})")


def check(lib, what, err):
    if err:
        raise KStateError(lib, what, err)


def save(lib, region):
    check(lib, "kho_init", lib.kho_init(region.encode(), 16 << 20))
    value = ctypes.c_ulong(0xDEADBEEF)  # saved at kho_finalize: it must live until then
    a = A(i=42, p_ulong=ctypes.pointer(value), s=b"kstate!")
    a.folio = lib.kho_folio_alloc(1)
    if not a.folio:
        raise KStateError(lib, "kho_folio_alloc", -12)
    ctypes.memset(lib.kho_folio_address(a.folio), 0x5A, 8192)
    check(lib, "kstate_register", lib.kstate_register(ctypes.byref(A_STATE), ctypes.byref(a), 1))
    check(lib, "kho_finalize", lib.kho_finalize())
    print(f"saved by libkstate {lib.kstate_version().decode()}: i={a.i} *p_ulong={a.p_ulong[0]:#x} "
          f"s={a.s.decode()} folio order {lib.kho_folio_order(a.folio)}")
    check(lib, "kho_exit", lib.kho_exit())
    return 0


def restore(lib, region):
    check(lib, "kho_init", lib.kho_init(region.encode(), 0))
    if not lib.is_kho_boot():
        raise KStateError(lib, "is_kho_boot", -2)
    a = A()  # p_ulong is NULL: the library allocates its pointee with malloc
    check(lib, "kstate_restore", lib.kstate_restore(ctypes.byref(A_STATE), ctypes.byref(a), 1))
    data = ctypes.string_at(lib.kho_folio_address(a.folio), 8192)
    ok = data == b"\x5a" * 8192
    print(f"restored: i={a.i} *p_ulong={a.p_ulong[0]:#x} s={a.s.decode()} folio order {lib.kho_folio_order(a.folio)} "
          f"contents {'ok' if ok else 'WRONG'}")
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(ctypes.cast(a.p_ulong, ctypes.c_void_p))
    check(lib, "kho_exit", lib.kho_exit())
    return 0 if ok and a.i == 42 and a.s == b"kstate!" else 1


def main(argv):
    if len(argv) != 3 or argv[1] not in ("save", "restore"):
        print("usage: talk.py save|restore REGION", file=sys.stderr)
        return 2
    lib = load(find_library())
    try:
        return save(lib, argv[2]) if argv[1] == "save" else restore(lib, argv[2])
    except KStateError as e:
        print(f"talk.py: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
