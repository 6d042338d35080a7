"""Builds ringcore's C library into the package; it is loaded with ctypes, not imported."""
from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ringcore._ringcore",
            # Every C file of src/ringcore/src is the library: the tests, the soak and the fuzz targets build the same set.
            sources=sorted(glob("src/ringcore/src/*.c")),
            depends=sorted(glob("src/ringcore/src/*.h")),
            extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread"],
            extra_link_args=["-pthread"],
            libraries=["pcap"],  # display filters: libpcap compiles and runs them (libpcap-dev)
        )
    ]
)
