# Helpers the samples share (the official samples repeat them in every file).
import os
from importlib.machinery import SourceFileLoader


def load(relative_path):
    """Load another sample or the configuration from the samples' root, as the official
    samples do with SourceFileLoader and os.getcwd()."""
    path = os.path.join(os.getcwd(), *relative_path.split("/"))
    return SourceFileLoader(relative_path.replace("/", "_").replace("-", "_").replace(".", "_"), path).load_module()


def del_none(d):
    for key, value in list(d.items()):
        if value is None:
            del d[key]
        elif isinstance(value, dict):
            del_none(value)
    return d
