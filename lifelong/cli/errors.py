"""The errors a user can cause with bad input; the CLI reports them in one line and exits non-zero."""
from __future__ import annotations

from human_data import HumanDataError
from streams.errors import StimulusError

from ..atomic_write import OutputWriteError
from ..components import ConfigError
from ..life_long.results import LifelongResultsError
from ..realtime.results import ResultsFileError
from ..training.checkpoint import CheckpointError

USER_ERRORS = (ConfigError, StimulusError, CheckpointError, HumanDataError, ResultsFileError, LifelongResultsError,
               OutputWriteError)
EXIT_USER_ERROR = 2
