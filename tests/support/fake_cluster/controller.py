"""The background loop that plays kube-controller-manager, the scheduler, the kubelet and add-ons.

Each tick runs every controller once under the store lock, so a client never
sees a half-done step (a ReplicaSet scaled but its pods not yet created).
"""

import logging
import threading

from .addons import Addons
from .operators import Operators
from .kubelet import Kubelet
from .recorder import Recorder
from .jobs import JobController
from .sets import DaemonSetController, StatefulSetController
from .workloads import DeploymentController, ReplicaSetController

TICK_SECONDS = 0.05
log = logging.getLogger("fake_cluster.controller")


class ControllerLoop:
    def __init__(self, api, scale, faults=None):
        recorder = Recorder(api)
        self.api = api
        self.scale = scale
        self.faults = faults
        self._build(recorder)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="controllers", daemon=True)

    def _build(self, recorder):
        self.kubelet = Kubelet(self.api, recorder, self.scale)
        self.controllers = [DeploymentController(self.api, recorder, self.scale),
                            ReplicaSetController(self.api, recorder, self.scale),
                            StatefulSetController(self.api, recorder, self.scale),
                            DaemonSetController(self.api, recorder, self.scale),
                            JobController(self.api, recorder, self.scale),
                            self.kubelet,
                            Addons(self.api, recorder, self.scale),
                            Operators(self.api, recorder, self.scale, self.faults)]

    def reset(self):
        """Forget per-object timers (after the store was reset)."""
        with self.api.store.lock:
            self._build(Recorder(self.api))

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()

    def _run(self):
        while not self.stopping.wait(TICK_SECONDS):
            with self.api.store.lock:
                for controller in self.controllers:
                    try:
                        controller.sync()
                    except Exception:  # one broken object must not stop the cluster
                        log.exception("%s failed", type(controller).__name__)
