"""Logging of the library: the official ``LogConfiguration`` and the loggers it configures.

The library logs through stdlib :mod:`logging` under the roots of :data:`LIBRARY_LOGGER_NAMES`.
On import only a :class:`logging.NullHandler` is attached to each root: no file, no stderr, no
change to the root or urllib3 loggers. A log file appears only when :func:`configure_logging`
gets a :class:`LogConfiguration` with ``enable_log`` set.

Redaction happens twice, so secrets cannot leak by a side door: every library logger carries a
:class:`~flex_ext.redaction.RedactingFilter` (a record is masked before it propagates to the
user's or the root logger's handlers), and the file handler formats with a
:class:`~flex_ext.redaction.RedactingFormatter`. Card data and credentials are always masked;
``enable_masking`` (default True) adds the personal-data fields.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from .errors import ConfigurationError
from .redaction import RedactingFilter, RedactingFormatter

if TYPE_CHECKING:  # pragma: no cover
    import logging.handlers

__all__ = [
    "DEFAULT_LOG_DATE_FORMAT", "DEFAULT_LOG_FILE_NAME", "DEFAULT_LOG_FORMAT", "DEFAULT_LOG_LEVEL",
    "DEFAULT_LOG_MAXIMUM_SIZE", "LIBRARY_LOGGER_NAMES", "LOG_BACKUP_COUNT", "LogConfiguration", "configure_logging",
    "get_logger",
]

LIBRARY_LOGGER_NAMES: tuple[str, ...] = ("CyberSource", "flex_ext", "payroc_hosted_fields")

DEFAULT_LOG_FILE_NAME = "cybs"
DEFAULT_LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DEFAULT_LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_LOG_MAXIMUM_SIZE = 10487560
DEFAULT_LOG_LEVEL = "WARNING"
LOG_BACKUP_COUNT = 10

def _setter(name: str, default: Any, flag: bool = False) -> Callable[[LogConfiguration, Any], None]:
    """An official ``set_<name>``: a falsy value gives ``default``; a flag takes a bool or
    "true"/"false" in any case, and anything else gives ``default``."""

    def setter(self: LogConfiguration, value: Any) -> None:
        if flag:
            text = value.strip().lower() if isinstance(value, str) else None
            value = value if isinstance(value, bool) else {"true": True, "false": False}.get(text or "", default)
        setattr(self, name, value if value or flag else default)

    return setter


_SETTINGS = (
    "enable_log", "enable_masking", "log_directory", "log_file_name", "log_format", "log_date_format",
    "log_maximum_size", "log_level",
)


class LogConfiguration:
    """The official ``CyberSource.logging.log_configuration.LogConfiguration``.

    Same attribute names, defaults and ``set_*`` methods. Two deliberate differences:
    ``set_enable_masking(x)`` really sets ``x`` (the official one always sets True), and
    the default ``log_directory`` (``<cwd>/Logs``) is computed when it is read, not when the
    module is imported.
    """

    def __init__(self) -> None:
        self.enable_log: bool = False
        self.log_file_name: str = DEFAULT_LOG_FILE_NAME
        self._log_directory: Optional[str] = None
        self.log_format: str = DEFAULT_LOG_FORMAT
        self.log_date_format: str = DEFAULT_LOG_DATE_FORMAT
        self.log_maximum_size: int = DEFAULT_LOG_MAXIMUM_SIZE
        self.log_level: str = DEFAULT_LOG_LEVEL
        self.enable_masking: bool = True

    @property
    def log_directory(self) -> str:
        """The directory of the log file; ``<current directory>/Logs`` unless set."""
        if self._log_directory:
            return self._log_directory
        return os.path.join(os.getcwd(), "Logs")

    @log_directory.setter
    def log_directory(self, value: Optional[str]) -> None:
        if value and not isinstance(value, (str, os.PathLike)):
            raise ConfigurationError(f"log_directory must be a path, not {type(value).__name__}")
        self._log_directory = os.fspath(value) if value else None

    set_enable_log = _setter("enable_log", False, flag=True)
    #: Unlike the official SDK, ``set_enable_masking(False)`` turns masking of personal data
    #: off (the official one always sets True). Card data and credentials stay masked.
    set_enable_masking = _setter("enable_masking", True, flag=True)
    set_log_directory = _setter("log_directory", None)
    set_log_file_name = _setter("log_file_name", DEFAULT_LOG_FILE_NAME)
    set_log_level = _setter("log_level", DEFAULT_LOG_LEVEL)
    set_log_format = _setter("log_format", DEFAULT_LOG_FORMAT)
    set_log_date_format = _setter("log_date_format", DEFAULT_LOG_DATE_FORMAT)

    def set_log_maximum_size(self, value: Any) -> None:
        """An int, or a str holding one; anything else (or nothing) gives the default."""
        if isinstance(value, bool) or value is None or value == "":
            self.log_maximum_size = DEFAULT_LOG_MAXIMUM_SIZE
            return
        try:
            self.log_maximum_size = int(value)
        except (TypeError, ValueError, OverflowError):
            self.log_maximum_size = DEFAULT_LOG_MAXIMUM_SIZE

    def __repr__(self) -> str:
        return (
            f"LogConfiguration(enable_log={self.enable_log!r}, log_directory={self.log_directory!r}, "
            f"log_file_name={self.log_file_name!r}, log_level={self.log_level!r}, "
            f"log_maximum_size={self.log_maximum_size!r}, enable_masking={self.enable_masking!r})"
        )

    @classmethod
    def from_object(cls, source: Any) -> LogConfiguration:
        """Copy a log configuration given as a ``LogConfiguration``-like object or a mapping.

        Accepts the official SDK's own ``LogConfiguration`` object (duck-typed) and a plain
        dict with the same attribute names. Missing attributes keep their defaults.
        """
        if isinstance(source, LogConfiguration):
            return source
        result = cls()
        for name in _SETTINGS:  # each setter turns a missing (None) value into its default
            value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
            getattr(result, "set_" + name)(value)
        return result


# --------------------------------------------------------------------------------------------
# The library's loggers

_LOCK = threading.RLock()
# One filter instance on every library logger; its ``pii`` follows enable_masking.
_RECORD_FILTER = RedactingFilter(pii=True)
_FILE_HANDLER: Optional[logging.handlers.RotatingFileHandler] = None  # logging.handlers: imported on use
_FILE_HANDLER_KEY: Optional[tuple[Any, ...]] = None
_LEVEL_SET_BY_US = False


def _is_library_logger_name(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in LIBRARY_LOGGER_NAMES)


def _attach_filter(logger: logging.Logger) -> None:
    if _RECORD_FILTER not in logger.filters:
        logger.addFilter(_RECORD_FILTER)


def get_logger(name: str) -> logging.Logger:
    """A library logger (``"CyberSource..."`` or ``"flex_ext..."``) with redaction attached.

    Library modules must obtain their loggers here: the filter masks each record before it
    reaches any handler, including handlers the user attaches and the root logger's.
    """
    if not _is_library_logger_name(name):
        raise ValueError(f"library loggers live under {' or '.join(LIBRARY_LOGGER_NAMES)}: got {name!r}")
    logger = logging.getLogger(name)
    with _LOCK:
        _attach_filter(logger)
    return logger


def _sweep_library_loggers() -> None:
    # Children created with logging.getLogger() instead of get_logger() get the filter too.
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and _is_library_logger_name(name):
            _attach_filter(logger)


def _level_from(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    level = logging.getLevelName(str(value).strip().upper()) if value else None
    return level if isinstance(level, int) else logging.WARNING


def _detach_file_handler() -> None:
    global _FILE_HANDLER, _FILE_HANDLER_KEY
    if _FILE_HANDLER is None:
        return
    for root in LIBRARY_LOGGER_NAMES:
        logging.getLogger(root).removeHandler(_FILE_HANDLER)
    _FILE_HANDLER.close()
    _FILE_HANDLER = None
    _FILE_HANDLER_KEY = None


def _file_formatter(cfg: LogConfiguration, masking: bool) -> RedactingFormatter:
    fmt = cfg.log_format or DEFAULT_LOG_FORMAT
    datefmt = cfg.log_date_format or None
    if not isinstance(fmt, str) or not (datefmt is None or isinstance(datefmt, str)):
        raise ConfigurationError("log_format and log_date_format must be strings")
    try:
        formatter = RedactingFormatter(fmt, datefmt, pii=masking)
    except ValueError:
        raise ConfigurationError(
            "log_format is not a %-style logging format (it needs a field such as %(message)s)"
        ) from None
    # Format one record now, so a bad field fails here and not on the first log line.
    probe = logging.LogRecord("flex_ext", logging.INFO, __file__, 0, "probe", None, None)
    try:
        formatter.format(probe)
    except (KeyError, ValueError, TypeError) as exc:
        # logging reports an unknown field as a ValueError raised from the KeyError.
        missing = exc if isinstance(exc, KeyError) else exc.__context__
        if isinstance(missing, KeyError) and missing.args:
            name = str(missing.args[0])
            shown = repr(name) if len(name) <= 40 and name.isprintable() else "(unprintable)"
            message = (f"log_format names a field log records do not have: {shown} "
                       "(see the LogRecord attributes in the logging documentation)")
        else:
            message = "log_format or log_date_format cannot format a log record (check each %(field)s conversion)"
        raise ConfigurationError(message) from None
    return formatter


def configure_logging(log_config: Optional[LogConfiguration]) -> None:
    """Apply a log configuration to the library's loggers. Idempotent.

    ``None`` or ``enable_log=False``: our file handler (if any) is removed and closed and the
    levels we set are reset; nothing is written anywhere by us. ``enable_log=True``: one
    :class:`~logging.handlers.RotatingFileHandler` on ``<log_directory>/<log_file_name>.log``
    (``maxBytes=log_maximum_size``, ``backupCount=10``; the directory is created) is shared
    by the ``"CyberSource"`` and ``"flex_ext"`` loggers, whose level becomes ``log_level``.
    Calling again with an equivalent configuration keeps the same handler; a different one
    replaces it. The root and urllib3 loggers are never touched.
    """
    global _FILE_HANDLER, _FILE_HANDLER_KEY, _LEVEL_SET_BY_US
    cfg = LogConfiguration.from_object(log_config) if log_config is not None else None
    with _LOCK:
        _RECORD_FILTER.pii = True if cfg is None else bool(cfg.enable_masking)
        _sweep_library_loggers()
        if cfg is None or not cfg.enable_log:
            _detach_file_handler()
            if _LEVEL_SET_BY_US:
                for root in LIBRARY_LOGGER_NAMES:
                    logging.getLogger(root).setLevel(logging.NOTSET)
                _LEVEL_SET_BY_US = False
            return

        path = os.path.abspath(os.path.join(cfg.log_directory, f"{cfg.log_file_name}.log"))
        max_bytes = cfg.log_maximum_size
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            max_bytes = DEFAULT_LOG_MAXIMUM_SIZE
        masking = bool(cfg.enable_masking)
        key = (path, max_bytes, cfg.log_format, cfg.log_date_format, masking)
        if _FILE_HANDLER is None or key != _FILE_HANDLER_KEY:
            formatter = _file_formatter(cfg, masking)  # refuses a bad format before anything changes
            _detach_file_handler()
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
            except (OSError, ValueError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a usable path"
                raise ConfigurationError(f"log_directory cannot be created ({reason})") from None
            # Imported only when file logging is on: it costs a fresh process milliseconds.
            from logging.handlers import RotatingFileHandler

            handler = RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=LOG_BACKUP_COUNT, encoding="utf-8", delay=True
            )
            handler.setFormatter(formatter)
            _FILE_HANDLER = handler
            _FILE_HANDLER_KEY = key
        level = _level_from(cfg.log_level)
        for root in LIBRARY_LOGGER_NAMES:
            logger = logging.getLogger(root)
            if _FILE_HANDLER not in logger.handlers:
                logger.addHandler(_FILE_HANDLER)
            logger.setLevel(level)
        _LEVEL_SET_BY_US = True


def _install_null_handlers() -> None:
    for root in LIBRARY_LOGGER_NAMES:
        logger = logging.getLogger(root)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        _attach_filter(logger)


_install_null_handlers()
