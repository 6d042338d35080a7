"""Builds ringcore's C library into the package; it is loaded with ctypes, not imported."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ringcore._ringcore",
            sources=[f"src/ringcore/src/{name}.c" for name in ("ring", "capture", "writer", "drain", "talkers", "store")],
            depends=["src/ringcore/src/ringcore.h", "src/ringcore/src/ring_internal.h",
                     "src/ringcore/src/store_internal.h"],
            extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread"],
            extra_link_args=["-pthread"],
        )
    ]
)
