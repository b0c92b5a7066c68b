"""The simulated provider fleet: OpenAI-compatible fake providers with fault controls.

Everything it serves says it is simulated: a ``[simulated <model> @ <provider>/
<region>]`` marker in the text, ``system_fingerprint: tiergate-sim`` and an
``x-simulated: true`` header.
"""

from tiergate.sim.faults import FaultError, FaultRule
from tiergate.sim.fleet import Fleet, run_fleet
from tiergate.sim.layout import Endpoint

__all__ = ["Endpoint", "FaultError", "FaultRule", "Fleet", "run_fleet"]
