"""What a container does, decided by its image's repository name (or its
`FAKE_CLUSTER_BEHAVIOUR` environment variable), as a timeline.

The kubelet simulation asks "what is this container's state `t` seconds after
its pod was scheduled?" and "which events has it emitted by then?". Answers are
pure functions of time, so the status the controller writes only changes when
something really happened. Nominal times (seconds) are multiplied by the
cluster's time scale.
"""

import hashlib
from dataclasses import dataclass, field

PULL_STARTS, PULL_ENDS = 0.1, 0.5
HEALTHY_READY, SLOW_READY = 1.0, 10.0
# A crashing container runs (and, without a readiness probe, is Ready) this long before it
# exits 1: long enough for the controllers to count a one-pod rollout available, as on a
# real cluster.
RUN_BEFORE_CRASH = 1.0
RUN_TO_COMPLETE = 1.0
SHOWN_TERMINATED = 0.3
BACKOFF_FIRST, BACKOFF_MAX = 10.0, 300.0
REPEAT_WARNING = 10.0

BEHAVIOURS = ("pull-fails", "crashes", "never-ready", "slow", "oom", "bad-config", "runs-as-root")
# A test-only switch a Compose file or manifest can express: a container whose `env` has
# FAKE_CLUSTER_BEHAVIOUR set to one of BEHAVIOURS behaves so whatever its image is called
# (built images are named PREFIX/SERVICE, so their repository cannot say `crashes`).
BEHAVIOUR_ENV = "FAKE_CLUSTER_BEHAVIOUR"


def repository(image):
    """The image reference without its digest or tag."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rfind(":")]
    return name


def behaviour_of(image):
    tail = repository(image).rsplit("/", 1)[-1]
    return tail if tail in BEHAVIOURS else "healthy"


def behaviour_of_container(container):
    """The container's literal FAKE_CLUSTER_BEHAVIOUR env value when it names a behaviour,
    else what its image's repository says."""
    for var in container.get("env") or []:
        if var.get("name") == BEHAVIOUR_ENV and var.get("value") in BEHAVIOURS:
            return var["value"]
    return behaviour_of(container.get("image", ""))


def image_id(image):
    if "@sha256:" in image:
        digest = image.split("@sha256:", 1)[1]
    else:
        digest = hashlib.sha256(image.encode()).hexdigest()
    return f"docker-pullable://{repository(image)}@sha256:{digest}"


def container_id(pod_uid, name, restart):
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}/{restart}".encode()).hexdigest()


@dataclass
class Moment:
    """A container's observable state at one instant."""
    state: dict
    last_state: dict = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restarts: int = 0
    ready_since: float = None
    events: list = field(default_factory=list)  # [(t, type, reason, message)]
    logs: list = field(default_factory=list)
    previous_logs: list = None


def _backoffs():
    delay = BACKOFF_FIRST
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX)


def container_at(container, pod_name, namespace, pod_uid, t, scale, restart_policy="Always", pod_security=None):
    """The Moment of `container` at `t` real seconds after scheduling.

    `runs-as-root` images run as UID 0: healthy, unless runAsNonRoot is set on the pod
    (`pod_security`, its securityContext) or the container, where the kubelet refuses them.

    Under `restart_policy` Never or OnFailure (Job pods) a healthy container runs to
    completion (exit 0, `Completed`) and, under Never, a crashing one stays terminated.
    """
    image = container.get("image", "")
    name = container.get("name", "")
    kind = behaviour_of_container(container)
    s = scale
    pulling = (PULL_STARTS * s, "Normal", "Pulling", f'Pulling image "{image}"')
    if t < PULL_STARTS * s:
        return Moment(state={"waiting": {"reason": "ContainerCreating"}})
    if kind == "pull-fails":
        return _pull_fails(image, t, s)
    events = [pulling]
    if t < PULL_ENDS * s:
        return Moment(state={"waiting": {"reason": "ContainerCreating"}}, events=events)
    events.append((PULL_ENDS * s, "Normal", "Pulled",
                   f'Successfully pulled image "{image}" in 400ms (400ms including waiting)'))
    non_root = (container.get("securityContext") or {}).get("runAsNonRoot",
                                                           (pod_security or {}).get("runAsNonRoot"))
    if kind == "runs-as-root" and non_root:
        kind = "bad-config"
        message = (f'container has runAsNonRoot and image will run as root (pod: "{pod_name}_{namespace}({pod_uid})", '
                   f"container: {name})")
    elif kind == "bad-config":
        message = 'secret "app-secrets" not found'
    if kind == "bad-config":
        events += _repeat(PULL_ENDS * s, REPEAT_WARNING * s, t, "Warning", "Failed", f"Error: {message}")
        return Moment(state={"waiting": {"reason": "CreateContainerConfigError", "message": message}}, events=events)
    started_events = [(PULL_ENDS * s, "Normal", "Created", f"Created container {name}"),
                      (PULL_ENDS * s, "Normal", "Started", f"Started container {name}")]
    events += started_events
    if kind in ("crashes", "oom"):
        if restart_policy == "Never":
            return _crashed_once(kind, image, name, pod_uid, t, s, events)
        probed = bool(container.get("readinessProbe"))
        return _crash_loop(kind, image, name, pod_name, namespace, pod_uid, t, s, events, probed)
    running = {"running": {"startedAt": PULL_ENDS * s}}
    if restart_policy != "Always":
        return _run_to_completion(image, name, pod_uid, t, s, events)
    port = (container.get("ports") or [{}])[0].get("containerPort", 8080)
    logs = [f"starting {name} from {image}", f"listening on :{port}"]
    if kind == "never-ready":
        events += _repeat(HEALTHY_READY * s, REPEAT_WARNING * s, t, "Warning", "Unhealthy",
                          "Readiness probe failed: HTTP probe failed with statuscode: 503")
        return Moment(state=running, started=True, events=events, logs=logs + ["GET /healthz 503"])
    ready_at = (SLOW_READY if kind == "slow" else HEALTHY_READY) * s
    ready = t >= ready_at
    return Moment(state=running, started=True, ready=ready, ready_since=ready_at if ready else None,
                  events=events, logs=logs + (["ready"] if ready else []))


def _repeat(start, every, t, event_type, reason, message):
    out, at = [], start
    while at <= t:
        out.append((at, event_type, reason, message))
        at += every
    return out


def _pull_fails(image, t, s):
    repo_tag = image
    not_found = (f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and unpack image '
                 f'"{repo_tag}": failed to resolve reference "{repo_tag}": {repo_tag}: not found')
    events, attempt_at, state = [], PULL_STARTS * s, {"waiting": {"reason": "ContainerCreating"}}
    backoffs = _backoffs()
    while attempt_at <= t:
        events.append((attempt_at, "Normal", "Pulling", f'Pulling image "{image}"'))
        failed_at = attempt_at + (PULL_ENDS - PULL_STARTS) * s
        if failed_at > t:
            break
        events.append((failed_at, "Warning", "Failed", not_found))
        events.append((failed_at, "Warning", "Failed", "Error: ErrImagePull"))
        state = {"waiting": {"reason": "ErrImagePull", "message": not_found}}
        backoff_at = failed_at + SHOWN_TERMINATED * s
        if backoff_at > t:
            break
        events.append((backoff_at, "Normal", "BackOff", f'Back-off pulling image "{image}"'))
        events.append((backoff_at, "Warning", "Failed", "Error: ImagePullBackOff"))
        state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
        attempt_at = backoff_at + next(backoffs) * s
    return Moment(state=state, events=events)


def _crash_loop(kind, image, name, pod_name, namespace, pod_uid, t, s, events, probed=False):
    """Runs, exits, and is restarted with the kubelet's doubling back-off. While it runs
    it is Ready as a kubelet would say: at once without a readiness probe, after the
    first successful probe (half of HEALTHY_READY after the start) with one."""
    oom = kind == "oom"
    lines = ["allocating memory"] if oom else ["boom"]
    terminated = {"exitCode": 137 if oom else 1, "reason": "OOMKilled" if oom else "Error"}
    start, restarts, last_state = PULL_ENDS * s, 0, {}
    backoffs = _backoffs()
    while True:
        exit_at = start + RUN_BEFORE_CRASH * s
        if t < exit_at:
            ready_at = start + (HEALTHY_READY * s / 2 if probed else 0)
            ready = t >= ready_at
            return Moment(state={"running": {"startedAt": start}}, last_state=last_state, started=True,
                          ready=ready, ready_since=ready_at if ready else None,
                          restarts=restarts, events=events, logs=lines, previous_logs=lines if restarts else None)
        finished = dict(terminated, startedAt=start, finishedAt=exit_at,
                        containerID=container_id(pod_uid, name, restarts))
        delay = next(backoffs)
        restart_at = exit_at + delay * s
        if t < exit_at + SHOWN_TERMINATED * s:
            return Moment(state={"terminated": finished}, last_state=last_state, restarts=restarts,
                          events=events, logs=lines, previous_logs=lines if restarts else None)
        backoff_message = f"Back-off restarting failed container {name} in pod {pod_name}_{namespace}({pod_uid})"
        events = events + _repeat(exit_at + SHOWN_TERMINATED * s, REPEAT_WARNING * s, min(t, restart_at - 1e-9),
                                  "Warning", "BackOff", backoff_message)
        if t < restart_at:
            waiting = {"reason": "CrashLoopBackOff",
                       "message": f"back-off {int(delay)}s restarting failed container={name} pod={pod_name}_{namespace}({pod_uid})"}
            return Moment(state={"waiting": waiting}, last_state={"terminated": finished}, restarts=restarts,
                          events=events, logs=lines, previous_logs=lines if restarts else None)
        restarts += 1
        last_state = {"terminated": finished}
        start = restart_at
        events = events + [(start, "Normal", "Pulled", f'Container image "{image}" already present on machine'),
                           (start, "Normal", "Created", f"Created container {name}"),
                           (start, "Normal", "Started", f"Started container {name}")]


def _run_to_completion(image, name, pod_uid, t, s, events):
    """A batch container: runs RUN_TO_COMPLETE, then exits 0."""
    start, end = PULL_ENDS * s, (PULL_ENDS + RUN_TO_COMPLETE) * s
    logs = [f"starting {name} from {image}", "working"]
    if t < end:
        return Moment(state={"running": {"startedAt": start}}, started=True, events=events, logs=logs)
    finished = {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": end,
                "containerID": container_id(pod_uid, name, 0)}
    return Moment(state={"terminated": finished}, events=events, logs=logs + ["done"])


def _crashed_once(kind, image, name, pod_uid, t, s, events):
    """A crashing container that is not restarted (restartPolicy Never): terminated for good."""
    oom = kind == "oom"
    start = PULL_ENDS * s
    if t < start + RUN_BEFORE_CRASH * s:
        return Moment(state={"running": {"startedAt": start}}, started=True, events=events,
                      logs=[f"starting {name} from {image}"])
    finished = {"exitCode": 137 if oom else 1, "reason": "OOMKilled" if oom else "Error", "startedAt": start,
                "finishedAt": start + RUN_BEFORE_CRASH * s, "containerID": container_id(pod_uid, name, 0)}
    return Moment(state={"terminated": finished}, events=events,
                  logs=["allocating memory"] if oom else [f"starting {name} from {image}", "boom"])
