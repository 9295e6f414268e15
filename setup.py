"""Packaging: one distribution providing `CyberSource` and `payroc_hosted_fields` (generated),
`authenticationsdk` (generated compat shims) and `flex_ext` (hand-written)."""

import os
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATED = {"cybersource": ("CyberSource", "authenticationsdk"), "payroc": ("payroc_hosted_fields",)}


def _version():
    scope = {}
    with open(os.path.join(HERE, "flex_ext", "_version.py"), encoding="utf-8") as handle:
        exec(handle.read(), scope)  # noqa: S102 - our own one-line version module
    return scope["__version__"]


def _long_description():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as handle:
        return handle.read()


package_dir = {}
packages = find_packages(include=["flex_ext", "flex_ext.*"])
for folder, top_level in GENERATED.items():
    root = os.path.join("generated", folder)
    for name in top_level:
        package_dir[name] = os.path.join(root, name)
        packages += [p for p in find_packages(root) if p == name or p.startswith(name + ".")]



# FLEX_EXT_REQUIRE_SPEEDUPS=1 makes a failed build of the C base64url an error (CI sets it).
REQUIRE_SPEEDUPS = os.environ.get("FLEX_EXT_REQUIRE_SPEEDUPS", "") not in ("", "0")


class OptionalBuildExt(build_ext):
    """Build ``flex_ext._speedups`` when a C compiler and the Python headers are there, and
    install without it when they are not: the pure-Python base64url then runs instead."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # no compiler at all, for example
            if REQUIRE_SPEEDUPS:
                raise
            sys.stderr.write(f"note: flex_ext._speedups not built ({error}); pure-Python base64url is used\n")


# optional=True: a compile error is a warning, not a failed install (unless required).
SPEEDUPS = Extension("flex_ext._speedups", sources=["flex_ext/_speedups.c"], optional=not REQUIRE_SPEEDUPS)

TEST_REQUIRES = [
    "pytest>=7",
    "hypothesis>=6.80",
    "jwcrypto>=1.5",
    "build>=1.0",
]
DEV_REQUIRES = [
    *TEST_REQUIRES,
    "mypy>=1.10",
    "ruff>=0.5",
    "openapi-generator-cli==7.26.0",
]

setup(
    name="cybersource-flex-client",
    version=_version(),
    description="Drop-in, lightweight client for the CyberSource Flex API v2 and Payroc Hosted Fields sessions",
    long_description=_long_description(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    package_dir=package_dir,
    packages=sorted(packages),
    ext_modules=[SPEEDUPS],
    cmdclass={"build_ext": OptionalBuildExt},
    package_data={
        "flex_ext": ["py.typed", "_speedups.pyi"],
        "CyberSource": ["py.typed"],
        "payroc_hosted_fields": ["py.typed"],
    },
    include_package_data=False,
    zip_safe=False,
    install_requires=[
        "urllib3>=1.26",
        "python-dateutil>=2.8",
        "six>=1.16",
        "cryptography>=42",
        "PyJWT>=2.8",
    ],
    extras_require={"test": TEST_REQUIRES, "dev": DEV_REQUIRES},
    entry_points={
        "console_scripts": ["flex-client = flex_ext.cli:main"],
        "pytest11": ["flex_ext.pytest_plugin = flex_ext.pytest_plugin"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Office/Business :: Financial",
        "Typing :: Typed",
    ],
)
