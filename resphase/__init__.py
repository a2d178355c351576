"""resphase from Python: `connect()` to a server and read sweeps as pandas / xarray, or `run()`
a small grid in this process. Importing this package loads neither torch nor the worker; `run`
imports them when called.

    import resphase
    client = resphase.connect()                     # $RESPHASE_URL, else the last `resphase up`
    sweep = client.submit(spec, wait=True)
    df, ds = sweep.to_pandas(), sweep.to_xarray()
"""

from backend import __version__
from resphase.analysis import Fit, FitLine, PhaseSlice, Preset
from resphase.client import Client, connect
from resphase.errors import ApiError, ServerUnreachable
from resphase.local import run
from resphase.sweep import LocalSweep, Sweep

__all__ = ["ApiError", "Client", "Fit", "FitLine", "LocalSweep", "PhaseSlice", "Preset", "ServerUnreachable",
           "Sweep", "__version__", "connect", "run"]
