"""tunelab: tune hyperparameters and architectures, and record every experiment.

>>> import tunelab
>>> space = tunelab.Space(lr=tunelab.Float(1e-4, 1e-1, log=True), layers=tunelab.Int(1, 4))
>>> study = tunelab.Study("quickstart", space, store="memory", seed=0)
>>> study.optimize(lambda c: abs(c["lr"] - 0.01) + c["layers"], n_trials=10)
>>> study.best_trial.config["layers"]
1
"""

from tunelab._errors import (
    InvalidArgumentError,
    InvalidConfigError,
    InvalidSpaceError,
    MissingExtraError,
    SchemaVersionError,
    SearchExhausted,
    StoreError,
    StudyMismatchError,
    StudyNotFoundError,
    TrialError,
    TrialNotFoundError,
    TunelabError,
)
from tunelab.executors import (
    Executor,
    InlineExecutor,
    ProcessExecutor,
    SimStep,
    SimulatedExecutor,
)
from tunelab.fidelity import Axis
from tunelab.schedulers import (
    ASHA,
    AsyncHyperband,
    Decision,
    FIFOScheduler,
    Hyperband,
    MedianStopping,
    Scheduler,
    SuccessiveHalving,
)
from tunelab.searchers import (
    GPSearcher,
    GridSearcher,
    ParEGOSearcher,
    PortfolioSearcher,
    RandomSearcher,
    RegularizedEvolution,
    Searcher,
    SobolSearcher,
    TPESearcher,
)
from tunelab.space import Categorical, Float, Int, Param, PowerOfTwo, Space
from tunelab.store import MemoryStore, SQLStore, Store, open_store
from tunelab.study import Study, bohb, load_study
from tunelab.trial import Report, Trial, TrialHandle, TrialStatus

__version__ = "0.1.0"

__all__ = [
    "ASHA",
    "AsyncHyperband",
    "Axis",
    "Categorical",
    "Decision",
    "Executor",
    "FIFOScheduler",
    "Float",
    "GPSearcher",
    "GridSearcher",
    "Hyperband",
    "InlineExecutor",
    "Int",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidSpaceError",
    "MedianStopping",
    "MemoryStore",
    "MissingExtraError",
    "Param",
    "ParEGOSearcher",
    "PortfolioSearcher",
    "PowerOfTwo",
    "ProcessExecutor",
    "RandomSearcher",
    "RegularizedEvolution",
    "Report",
    "SQLStore",
    "SchemaVersionError",
    "Scheduler",
    "SearchExhausted",
    "Searcher",
    "SimStep",
    "SimulatedExecutor",
    "SobolSearcher",
    "TPESearcher",
    "Space",
    "StoreError",
    "Store",
    "Study",
    "SuccessiveHalving",
    "StudyMismatchError",
    "StudyNotFoundError",
    "Trial",
    "TrialError",
    "TrialHandle",
    "TrialNotFoundError",
    "TrialStatus",
    "TunelabError",
    "__version__",
    "bohb",
    "load_study",
    "open_store",
]
