"""Offline validation chain for ``template.yaml``: what ``sam validate --lint`` and a deploy would catch.

Stages, in order (``run_chain``):

1. ``build-inputs``: the local files ``sam build`` needs exist (zip ``CodeUri`` with its handler
   module, the layer's ``ContentUri`` and Makefile, each image function's Dockerfile, context and
   the module named by its ``ImageConfig.Command``).
2. ``cfn-lint-sam``: cfn-lint on the SAM template (it validates SAM resources against SAM's
   schemas; it does not run the transform).
3. ``sam-translate``: aws-sam-translator turns the template into plain CloudFormation, as the
   ``AWS::Serverless-2016-10-31`` transform does at deploy time. Local artifact paths are first
   replaced by dummy S3/ECR locations, as ``sam build`` + ``sam package`` would do, and managed
   policy names come from :class:`OfflineManagedPolicyLoader` instead of IAM.
4. ``cfn-lint-cfn``: cfn-lint on the translated template. Before linting, every state machine's
   ``DefinitionString`` (a ``Fn::Join`` of JSON lines after the transform) is joined and its
   ``DefinitionSubstitutions`` applied with stand-in values, so cfn-lint's ASL schema (E3601)
   sees the real definition instead of an opaque intrinsic.
5. ``state-machine``: the ASL graph checks of :func:`check_state_machine` (cfn-lint validates the
   ASL's shape, not its graph: it accepts a ``Next`` to a missing state).
6. ``queues``: :func:`check_queues`, what SQS FIFO queues, EventBridge targets and Lambda event
   source mappings need at deploy or delivery time and cfn-lint does not check (a ``.fifo`` name,
   a message group and content-based deduplication for an EventBridge target, a queue policy
   that lets the rule send, no batching window on a FIFO mapping).

Only errors fail the chain. cfn-lint warnings (W) are kept in the result so a test can hold the
real template warning-free; informational rules (I) are not run: on this template they only
report I3011 (log groups and queues without explicit Deletion/UpdateReplacePolicy, whose
default "Delete" is what we want for logs and for queues that hold only pending work).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode.cfn_yaml import loads as load_cfn_yaml
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.translator import Translator

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"

STAGES = ("build-inputs", "cfn-lint-sam", "sam-translate", "cfn-lint-cfn", "state-machine", "queues")

#: Parameter values for the offline translation (the required ones have no default).
OFFLINE_PARAMETERS: dict[str, Any] = {
    "WorkerImageUri": "registry.invalid/sarcube-worker:offline",
    "SubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "SecurityGroupIds": ["sg-0123456789abcdef0"],
}

#: Files the template needs that other parts of the project provide (the handlers). While one is
#: missing, the tests report it as expected-to-fail instead of failing the whole suite.
PENDING_ELSEWHERE = ("functions/api", "functions/tiles/handler.py", "functions/zarr/handler.py",
                     "functions/ard/handler.py", "functions/keepup/handler.py")


def pending(findings: Iterable[Finding], root: Path = REPO) -> list[str]:
    """The missing files among ``findings`` that are in :data:`PENDING_ELSEWHERE` and still absent."""
    out = []
    for f in findings:
        m = re.search(r" (\S+) does not exist$", f.message)
        if f.rule == "missing-file" and m and m.group(1).rstrip("/") in PENDING_ELSEWHERE \
                and not (root / m.group(1)).exists():
            out.append(m.group(1))
    return out


#: cfn-lint rules not enforced, with the reason. Empty: every E and W rule applies.
IGNORED_RULES: dict[str, str] = {}


@dataclass(frozen=True)
class Finding:
    """One problem found by a stage: ``rule`` is a cfn-lint rule ID or a short name of our check."""

    stage: str
    rule: str
    message: str
    where: str = ""
    level: str = "error"

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"[{self.stage}] {self.rule}: {self.message}{at}"


@dataclass
class ChainResult:
    """Findings of every stage that ran; ``translated`` is the plain CloudFormation, if reached."""

    findings: list[Finding] = field(default_factory=list)
    stages_run: list[str] = field(default_factory=list)
    translated: dict[str, Any] | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def caught_by(self) -> list[str]:
        """Stages that reported at least one error, in chain order."""
        return [s for s in STAGES if any(f.stage == s for f in self.errors)]


class OfflineManagedPolicyLoader(ManagedPolicyLoader):
    """Managed policy names → ARNs without calling IAM ``ListPolicies`` (the translator's only AWS call)."""

    NAMES = (
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaVPCAccessExecutionRole",
        "AWSXrayWriteOnlyAccess",
        "AWSXRayDaemonWriteAccess",
        "AmazonECSTaskExecutionRolePolicy",
    )

    def __init__(self) -> None:  # no IAM client
        self._policy_map = {
            name: f"arn:aws:iam::aws:policy/{'service-role/' if 'Execution' in name else ''}{name}"
            for name in self.NAMES
        }

    def load(self) -> dict[str, str]:
        return dict(self._policy_map)


# ---------------------------------------------------------------------------------------- loading


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain dicts/lists/strings, short-form tags (``!Ref``) in long form (``Ref``).

    Goes through JSON so YAML aliases become independent copies and cfn-lint's node classes plain
    builtins.
    """
    return json.loads(json.dumps(load_cfn_yaml(path.read_text())))


def write_template(template: Mapping[str, Any], path: Path) -> Path:
    """Write a template as JSON (CloudFormation reads JSON and YAML alike)."""
    path.write_text(json.dumps(template, indent=1))
    return path


# ---------------------------------------------------------------------------------------- stages


def check_build_inputs(template: Mapping[str, Any], root: Path = REPO) -> list[Finding]:
    """Stage 1: the local paths ``sam build`` reads exist, and the handler modules they name."""
    out: list[Finding] = []

    def missing(name: str, what: str, path: Path) -> None:
        out.append(Finding("build-inputs", "missing-file", f"{what} {path.relative_to(root)} does not exist",
                           f"Resources/{name}"))

    for name, res in _resources(template):
        props = res.get("Properties") or {}
        meta = res.get("Metadata") or {}
        if res.get("Type") == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                if "Dockerfile" not in meta:
                    if "ImageUri" not in props:
                        out.append(Finding("build-inputs", "no-image", "an image function needs Metadata "
                                           "Dockerfile/DockerContext (sam build) or ImageUri",
                                           f"Resources/{name}"))
                    continue
                context = root / str(meta.get("DockerContext", "."))
                dockerfile = context / str(meta["Dockerfile"])
                if not context.is_dir():
                    missing(name, "DockerContext", context)
                elif not dockerfile.is_file():
                    missing(name, "Dockerfile", dockerfile)
                command = ((props.get("ImageConfig") or {}).get("Command") or [None])[0]
                if isinstance(command, str) and "." in command:
                    module = context / (command.rsplit(".", 1)[0].replace(".", "/") + ".py")
                    if context.is_dir() and not module.is_file():
                        missing(name, "handler module", module)
            else:
                code = props.get("CodeUri")
                if isinstance(code, str) and not code.startswith("s3://"):
                    code_dir = root / code
                    if not code_dir.is_dir():
                        missing(name, "CodeUri", code_dir)
                        continue
                    handler = props.get("Handler")
                    if isinstance(handler, str) and "." in handler:
                        module = code_dir / (handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
                        if not module.is_file():
                            missing(name, "handler module", module)
        elif res.get("Type") == "AWS::Serverless::LayerVersion":
            content = props.get("ContentUri")
            if isinstance(content, str) and not content.startswith("s3://"):
                content_dir = root / content
                if not content_dir.is_dir():
                    missing(name, "ContentUri", content_dir)
                elif meta.get("BuildMethod") == "makefile":
                    makefile = content_dir / "Makefile"
                    if not makefile.is_file():
                        missing(name, "Makefile", makefile)
                    elif f"build-{name}:" not in makefile.read_text():
                        out.append(Finding("build-inputs", "no-make-target",
                                           f"{makefile.relative_to(root)} has no target build-{name}",
                                           f"Resources/{name}"))
    return out


def run_cfn_lint(path: Path, stage: str) -> list[Finding]:
    """Stages 2 and 4: cfn-lint's default rules (errors and warnings) in one region."""
    matches = lint_file(path, config=ManualArgs(regions=[REGION]))
    out = []
    for m in matches:
        rule_id = m.rule.id
        if rule_id in IGNORED_RULES:
            continue
        level = {"E": "error", "W": "warning"}.get(rule_id[:1], "info")
        where = "/".join(str(p) for p in (m.path or [])) or f"line {m.linenumber}"
        out.append(Finding(stage, rule_id, m.message, where, level))
    return out


def package_locally(template: Mapping[str, Any]) -> dict[str, Any]:
    """Replace local artifact paths by dummy S3/ECR locations, as ``sam build``/``sam package`` do."""
    out = copy.deepcopy(dict(template))
    for name, res in _resources(out):
        props = res.get("Properties")
        if not isinstance(props, dict):
            continue
        if res.get("Type") == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                if "ImageUri" not in props and "Dockerfile" in (res.get("Metadata") or {}):
                    props["ImageUri"] = f"registry.invalid/sarcube-lambda:{name.lower()}"
            elif isinstance(props.get("CodeUri"), str) and not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = f"s3://sarcube-offline-artifacts/{name}.zip"
        elif res.get("Type") == "AWS::Serverless::LayerVersion":
            if isinstance(props.get("ContentUri"), str) and not props["ContentUri"].startswith("s3://"):
                props["ContentUri"] = f"s3://sarcube-offline-artifacts/{name}.zip"
        elif res.get("Type") == "AWS::Serverless::StateMachine":
            if isinstance(props.get("DefinitionUri"), str) and not props["DefinitionUri"].startswith("s3://"):
                props["DefinitionUri"] = f"s3://sarcube-offline-artifacts/{name}.asl.json"
    return out


def translate(template: Mapping[str, Any],
              parameters: Mapping[str, Any] | None = None) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Stage 3: the SAM transform, offline. Returns (CloudFormation or None, findings)."""
    params = dict(OFFLINE_PARAMETERS if parameters is None else parameters)
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())  # records nothing anywhere
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION), metrics=metrics)
    loader = OfflineManagedPolicyLoader()
    try:
        cfn = translator.translate(copy.deepcopy(dict(template)), parameter_values=params,
                                   get_managed_policy_map=loader.load)
    except InvalidDocumentException as exc:
        return None, [Finding("sam-translate", "invalid-document", str(c)) for c in exc.causes]
    except Exception as exc:  # the transform crashing on a template is a failed deploy too
        return None, [Finding("sam-translate", type(exc).__name__, str(exc))]
    finally:
        metrics.publish()
    return cfn, []


def inline_state_machines(cfn: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``cfn`` whose state machines carry their substituted definition as a plain string."""
    out = copy.deepcopy(dict(cfn))
    for _name, res in _resources(out):
        if res.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = res.get("Properties") or {}
        try:
            text = definition_text(props, out, parameters)
        except ValueError:
            continue  # reported by the state-machine stage
        props["DefinitionString"] = text  # substitutions stay: they are what uses the parameters
    return out


def run_chain(path: Path, *, root: Path = REPO, parameters: Mapping[str, Any] | None = None,
              fail_fast: bool = False, workdir: Path | None = None,
              ignore: Iterable[Finding] = ()) -> ChainResult:
    """Run the stages on the template at ``path``.

    Without ``fail_fast`` every stage runs, in the order of :data:`STAGES` (cfn-lint on the
    translation is skipped only when the translation failed). With ``fail_fast`` the cheap stages
    run first (build inputs, translation, state machines: milliseconds; each cfn-lint pass takes
    about 1.5 s) and the chain stops at the first stage that reports an error: the verdict is the
    same, only faster. Findings equal to one in ``ignore`` (e.g. those of the unmodified template,
    when testing a mutation of it) are dropped.
    """
    params = dict(OFFLINE_PARAMETERS if parameters is None else parameters)
    workdir = workdir or path.parent
    template = load_template(path)
    result = ChainResult()

    def build_inputs() -> list[Finding]:
        return check_build_inputs(template, root)

    def lint_sam() -> list[Finding]:
        return run_cfn_lint(path, "cfn-lint-sam")

    def sam_translate() -> list[Finding]:
        result.translated, found = translate(package_locally(template), params)
        return found

    def lint_cfn() -> list[Finding]:
        if result.translated is None:
            return []
        inlined = inline_state_machines(result.translated, params)
        return run_cfn_lint(write_template(inlined, workdir / f"{path.stem}.translated.json"), "cfn-lint-cfn")

    def state_machines() -> list[Finding]:
        found: list[Finding] = []
        for name, res in _resources(result.translated or {}):
            if res.get("Type") == "AWS::StepFunctions::StateMachine":
                found += check_state_machine(name, res.get("Properties") or {}, result.translated or {}, params)
        return found

    def queues() -> list[Finding]:
        return check_queues(result.translated or {}, params)

    stages: dict[str, Callable[[], list[Finding]]] = {
        "build-inputs": build_inputs, "cfn-lint-sam": lint_sam, "sam-translate": sam_translate,
        "cfn-lint-cfn": lint_cfn, "state-machine": state_machines, "queues": queues,
    }
    # Fail-fast order: cheap stages first, then cfn-lint on the translation (it reports everything
    # the SAM pass found in every injected-error case measured, see tests/infra/_mutations.py).
    order = ("build-inputs", "sam-translate", "state-machine", "queues", "cfn-lint-cfn", "cfn-lint-sam") \
        if fail_fast \
        else STAGES
    known = {_key(f) for f in ignore}
    for stage in order:
        found = [f for f in stages[stage]() if _key(f) not in known]
        result.stages_run.append(stage)
        result.findings.extend(found)
        if fail_fast and any(f.level == "error" for f in found):
            break
    return result


# ---------------------------------------------------------------------------------------- state machines


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")


def resolve(value: Any, cfn: Mapping[str, Any], parameters: Mapping[str, Any]) -> str:
    """A stand-in string for an intrinsic (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``).

    Parameters resolve to the given value or their default; resources to ``<LogicalId>``-based
    names and ARNs. Raises ``ValueError`` for a reference to nothing.
    """
    resources = cfn.get("Resources") or {}
    declared = cfn.get("Parameters") or {}

    def ref(name: str) -> str | list[str]:
        if name.startswith("AWS::"):
            return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                    "AWS::StackName": "sarcube", "AWS::URLSuffix": "amazonaws.com"}.get(name, name)
        if name in parameters:
            v = parameters[name]
            return [str(x) for x in v] if isinstance(v, list) else str(v)
        if name in declared:
            default = declared[name].get("Default", "")
            if str(declared[name].get("Type", "")).startswith(("List<", "CommaDelimitedList")):
                return [s for s in str(default).split(",") if s]
            return str(default)
        if name in resources:
            return f"{name.lower()}-stand-in"
        raise ValueError(f"Ref to {name!r}, which is neither a parameter nor a resource")

    def getatt(name: str, attr: str) -> str:
        if name not in resources:
            raise ValueError(f"Fn::GetAtt on {name!r}, which is not a resource")
        return f"arn:aws:stand-in:{REGION}:{ACCOUNT}:{name.lower()}/{attr}"

    def ev(v: Any) -> Any:
        if isinstance(v, (str, int, float, bool)):
            return str(v)
        if isinstance(v, list):
            return [ev(x) for x in v]
        if isinstance(v, dict) and len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                return ref(arg)
            if fn == "Fn::GetAtt":
                a, b = arg.split(".", 1) if isinstance(arg, str) else arg
                return getatt(a, b)
            if fn == "Fn::Join":
                sep, items = arg
                parts = ev(items)
                flat = [p for x in parts for p in (x if isinstance(x, list) else [x])]
                return str(sep).join(flat)
            if fn == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                local_vals = {k: ev(x) for k, x in local.items()}

                def sub(m: re.Match[str]) -> str:
                    key = m.group(1)
                    if key in local_vals:
                        return str(local_vals[key])
                    if "." in key and not key.startswith("AWS::"):
                        return getatt(*key.split(".", 1))
                    r = ref(key)
                    return ",".join(r) if isinstance(r, list) else r

                return _PLACEHOLDER.sub(sub, text)
            if fn == "Fn::If":
                return ev(arg[1])
        raise ValueError(f"cannot resolve {json.dumps(v)[:120]}")

    out = ev(value)
    return ",".join(out) if isinstance(out, list) else out


def definition_text(props: Mapping[str, Any], cfn: Mapping[str, Any], parameters: Mapping[str, Any]) -> str:
    """The deployed definition of an ``AWS::StepFunctions::StateMachine``: joined and substituted."""
    if "Definition" in props:
        raw = json.dumps(props["Definition"])
    elif "DefinitionString" in props:
        raw = resolve(props["DefinitionString"], cfn, parameters)
    else:
        raise ValueError("no inline Definition or DefinitionString (DefinitionS3Location is not checked offline)")
    subs = {k: resolve(v, cfn, parameters) for k, v in (props.get("DefinitionSubstitutions") or {}).items()}
    return _PLACEHOLDER.sub(lambda m: subs.get(m.group(1), m.group(0)), raw)


def check_state_machine(name: str, props: Mapping[str, Any], cfn: Mapping[str, Any],
                        parameters: Mapping[str, Any]) -> list[Finding]:
    """Stage 5: graph and design checks of one state machine definition.

    Checks: valid JSON after substitution with no placeholder left; in every scope (top level,
    each Map's ItemProcessor, each Parallel branch) ``StartAt`` and every ``Next``/``Default``/
    ``Choices[].Next``/``Catch[].Next`` name a state of that scope, every state is reachable, and
    every non-terminal state has exactly one of ``Next``/``End``; a Map state has
    ``ItemProcessor``/``Iterator``, reads inside it only the fields its ``ItemSelector`` sets,
    and has ``MaxConcurrency`` or ``MaxConcurrencyPath`` (filled by a
    Pass state from a substitution that parses as an integer in 1-40); each ECS ``runTask.sync``
    task retries with ``BackoffRate`` ≥ 1 and overrides a container its task definition has; a
    ``Catch`` leads to a Task that marks the job failed and then to a ``Fail`` state.
    """
    out: list[Finding] = []

    def bad(rule: str, message: str, where: str = "") -> None:
        out.append(Finding("state-machine", rule, message, f"Resources/{name}{'/' + where if where else ''}"))

    try:
        text = definition_text(props, cfn, parameters)
    except ValueError as exc:
        bad("definition", str(exc))
        return out
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        bad("unsubstituted", f"placeholders without a DefinitionSubstitutions entry: {', '.join(left)}")
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        bad("json", f"definition is not valid JSON after substitution: {exc}")
        return out

    scopes: list[tuple[str, Mapping[str, Any]]] = []

    def walk(where: str, scope: Mapping[str, Any]) -> None:
        scopes.append((where, scope))
        for sname, state in (scope.get("States") or {}).items():
            if not isinstance(state, dict):
                continue
            sub = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(sub, dict):
                walk(f"{where}/{sname}/ItemProcessor", sub)
            for i, branch in enumerate(state.get("Branches") or []):
                walk(f"{where}/{sname}/Branches/{i}", branch)

    walk("Definition", definition)
    all_states: dict[str, Mapping[str, Any]] = {}
    for where, scope in scopes:
        states = scope.get("States")
        if not isinstance(states, dict) or not states:
            bad("no-states", "scope has no States", where)
            continue
        all_states.update(states)
        if scope.get("StartAt") not in states:
            bad("start-at", f"StartAt {scope.get('StartAt')!r} is not a state of this scope", where)
        edges: dict[str, list[str]] = {}
        for sname, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices") or []]
            targets += [c.get("Next") for c in state.get("Catch") or []]
            edges[sname] = [t for t in targets if t is not None]
            for t in edges[sname]:
                if t not in states:
                    bad("next", f"{sname} goes to {t!r}, which is not a state of this scope", f"{where}/{sname}")
            kind = state.get("Type")
            if kind not in ("Choice", "Succeed", "Fail") and (("Next" in state) == bool(state.get("End"))):
                bad("next-or-end", f"{sname} needs exactly one of Next and End", f"{where}/{sname}")
        seen, todo = set(), [scope.get("StartAt")]
        while todo:
            s = todo.pop()
            if s in seen or s not in states:
                continue
            seen.add(s)
            todo += edges.get(s, [])
        for s in sorted(set(states) - seen):
            bad("unreachable", f"{s} cannot be reached from StartAt", f"{where}/{s}")

    maps = {n: s for n, s in all_states.items() if s.get("Type") == "Map"}
    if not maps:
        bad("map", "no Map state: the job does not fan out")
    for mname, m in maps.items():
        processor = m.get("ItemProcessor") or m.get("Iterator")
        if not isinstance(processor, dict):
            bad("map-processor", f"Map {mname} has neither ItemProcessor nor Iterator", mname)
        elif isinstance(m.get("ItemSelector") or m.get("Parameters"), dict):
            given = {k.removesuffix(".$") for k in (m.get("ItemSelector") or m.get("Parameters"))}
            used = set(re.findall(r"(?<![$\w])\$\.([A-Za-z_][A-Za-z0-9_]*)", json.dumps(processor)))
            for key in sorted(used - given):
                bad("map-input", f"a state inside Map {mname} reads $.{key}, which its ItemSelector does not set",
                    mname)
        if "MaxConcurrency" in m:
            if not isinstance(m["MaxConcurrency"], int) or not 1 <= m["MaxConcurrency"] <= 40:
                bad("map-concurrency", f"Map {mname} MaxConcurrency must be an integer in 1-40", mname)
        elif "MaxConcurrencyPath" in m:
            value = _pass_value(all_states, m["MaxConcurrencyPath"])
            if value is None or not 1 <= value <= 40:
                bad("map-concurrency", f"Map {mname} MaxConcurrencyPath {m['MaxConcurrencyPath']} is not set "
                    "by a Pass state to an integer in 1-40", mname)
        else:
            bad("map-concurrency", f"Map {mname} has no MaxConcurrency: it would start every burst at once", mname)

    ecs = {n: s for n, s in all_states.items()
           if s.get("Type") == "Task" and str(s.get("Resource", "")).endswith(":ecs:runTask.sync")}
    if not ecs:
        bad("ecs-task", "no arn:aws:states:::ecs:runTask.sync task")
    for tname, task in ecs.items():
        retries = task.get("Retry") or []
        if not any(isinstance(r.get("BackoffRate"), (int, float)) and r["BackoffRate"] >= 1 for r in retries):
            bad("retry", f"{tname} has no Retry with BackoffRate >= 1", tname)
        out.extend(_check_container_override(name, tname, task, cfn))

    catch_targets = {c.get("Next") for s in all_states.values() for c in s.get("Catch") or []}
    good = [t for t in catch_targets
            if all_states.get(t, {}).get("Type") == "Task"
            and all_states.get(all_states[t].get("Next"), {}).get("Type") == "Fail"]
    if not good:
        bad("catch", "no Catch leads to a failure-marking Task followed by a Fail state")
    for mname, m in maps.items():
        if not m.get("Catch"):
            bad("catch", f"Map {mname} has no Catch: a failed burst would not mark the job failed", mname)
    return out


def _pass_value(states: Mapping[str, Mapping[str, Any]], path: str) -> int | None:
    """The integer a Pass state puts at ``$.<key>`` (literal or ``States.StringToJson('<n>')``)."""
    key = path.removeprefix("$.")
    for state in states.values():
        if state.get("Type") != "Pass":
            continue
        params = state.get("Parameters") or {}
        if isinstance(params.get(key), int):
            return int(params[key])
        m = re.fullmatch(r"States\.StringToJson\('(-?\d+)'\)", str(params.get(f"{key}.$", "")))
        if m:
            return int(m.group(1))
    return None


def _check_container_override(sm: str, tname: str, task: Mapping[str, Any],
                              cfn: Mapping[str, Any]) -> list[Finding]:
    """The container a runTask override names exists in the task definition the task runs."""
    out: list[Finding] = []
    params = task.get("Parameters") or {}
    td_value = str(params.get("TaskDefinition", ""))
    resources = cfn.get("Resources") or {}
    td_name = next((n for n in resources if td_value == f"{n.lower()}-stand-in"), None)
    if td_name is None or resources[td_name].get("Type") != "AWS::ECS::TaskDefinition":
        out.append(Finding("state-machine", "task-definition",
                           f"{tname} does not run a task definition of this template", f"Resources/{sm}/{tname}"))
        return out
    containers = {c.get("Name") for c in resources[td_name].get("Properties", {}).get("ContainerDefinitions", [])}
    for o in (params.get("Overrides") or {}).get("ContainerOverrides") or []:
        if o.get("Name") not in containers:
            out.append(Finding("state-machine", "container-override",
                               f"{tname} overrides container {o.get('Name')!r}; {td_name} has {sorted(containers)}",
                               f"Resources/{sm}/{tname}"))
    return out


# ---------------------------------------------------------------------------------------- queues


def check_queues(cfn: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[Finding]:
    """Stage 6: SQS FIFO queues and what feeds and drains them (on the translated template).

    - A FIFO queue's ``QueueName`` ends in ``.fifo`` (CloudFormation refuses it otherwise).
    - An EventBridge rule target on a FIFO queue sets ``SqsParameters.MessageGroupId``, and the
      queue has ``ContentBasedDeduplication`` (EventBridge sends no deduplication ID).
    - An EventBridge rule target on a queue of the stack is allowed by an ``AWS::SQS::QueuePolicy``
      on that queue to ``events.amazonaws.com`` (without one, every event is dropped silently).
    - A Lambda event source mapping on a FIFO queue has no ``MaximumBatchingWindowInSeconds``
      and a ``BatchSize`` of at most 10.
    """
    out: list[Finding] = []
    resources = dict(_resources(cfn))
    queues = {n: r.get("Properties") or {} for n, r in resources.items() if r.get("Type") == "AWS::SQS::Queue"}
    fifo = {n for n, p in queues.items() if p.get("FifoQueue") in (True, "true", "True")}

    def bad(rule: str, message: str, where: str) -> None:
        out.append(Finding("queues", rule, message, f"Resources/{where}"))

    def queue_of(value: Any) -> str | None:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            name, attr = att.split(".", 1) if isinstance(att, str) else att
            return name if name in queues and attr == "Arn" else None
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in queues:
            return str(value["Ref"])
        return None

    for name in sorted(fifo):
        if "QueueName" in queues[name]:
            try:
                queue_name = resolve(queues[name]["QueueName"], cfn, parameters)
            except ValueError as exc:
                bad("fifo-name", str(exc), name)
                continue
            if not queue_name.endswith(".fifo"):
                bad("fifo-name", f"FIFO queue name {queue_name!r} does not end in .fifo", name)

    allowed: dict[str, list[Any]] = {}  # queue → the statements of its policies
    for r in resources.values():
        if r.get("Type") == "AWS::SQS::QueuePolicy":
            p = r.get("Properties") or {}
            for q in p.get("Queues") or []:
                target = queue_of(q)
                if target:
                    allowed.setdefault(target, []).extend((p.get("PolicyDocument") or {}).get("Statement") or [])

    for rname, r in resources.items():
        if r.get("Type") != "AWS::Events::Rule":
            continue
        for i, t in enumerate((r.get("Properties") or {}).get("Targets") or []):
            queue = queue_of(t.get("Arn"))
            if queue is None:
                continue
            where = f"{rname}/Properties/Targets/{i}"
            if queue in fifo:
                if not (t.get("SqsParameters") or {}).get("MessageGroupId"):
                    bad("fifo-group", f"target on FIFO queue {queue} sets no SqsParameters.MessageGroupId", where)
                if queues[queue].get("ContentBasedDeduplication") not in (True, "true", "True"):
                    bad("fifo-dedup", f"EventBridge sends no deduplication ID: FIFO queue {queue} needs "
                        "ContentBasedDeduplication", queue)
            sends = [s for s in allowed.get(queue, [])
                     if s.get("Effect") == "Allow"
                     and "events.amazonaws.com" in json.dumps(s.get("Principal"))
                     and "sqs:SendMessage" in json.dumps(s.get("Action"))]
            if not sends:
                bad("queue-policy", f"no queue policy lets events.amazonaws.com send to {queue}: the rule's "
                    "events would be dropped", where)

    for mname, r in resources.items():
        if r.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        p = r.get("Properties") or {}
        queue = queue_of(p.get("EventSourceArn"))
        if queue in fifo:
            if "MaximumBatchingWindowInSeconds" in p:
                bad("fifo-mapping", "a mapping on a FIFO queue cannot have MaximumBatchingWindowInSeconds", mname)
            if isinstance(p.get("BatchSize"), int) and p["BatchSize"] > 10:
                bad("fifo-mapping", f"BatchSize {p['BatchSize']} on a FIFO queue (at most 10)", mname)
    return out


def _key(f: Finding) -> tuple[str, str, str, str]:
    return (f.stage, f.rule, f.message, f.where)


def _resources(template: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    res = template.get("Resources")
    return [(k, v) for k, v in res.items() if isinstance(v, dict)] if isinstance(res, dict) else []


# ---------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> int:
    """``python -m tests.infra._chain [template]``: run every stage and print the findings."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", nargs="?", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_chain(args.template.resolve(), workdir=Path(tmp))
    for f in result.findings:
        echo(f"{f.level}: {f}")
    echo(f"stages: {', '.join(result.stages_run)}; errors: {len(result.errors)}, warnings: {len(result.warnings)}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
