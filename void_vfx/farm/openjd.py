"""Write an Open Job Description job bundle (``jobtemplate-2023-09``) for one shot.

The bundle is what ``openjd run`` runs locally and ``deadline bundle submit`` sends to Deadline
Cloud: ``template.yaml``, ``parameter_values.yaml``, ``asset_references.yaml`` and the job spec
(``job.json``). Three steps: Prepare -> Infer -> Assemble. Infer's one task parameter is the
window index, an explicit INT list (task chunking balances chunk sizes, which would not match the
windows); its host requirements ask for a GPU with the memory the engine's memory mode needs, and
a step environment loads the model once per worker session. Paths travel as PATH parameters, so
the farm maps them; the paths inside the spec are mapped by each task from the session's rules
file (``Session.PathMappingRulesFile``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from typing import Any

from void_vfx.atomic import atomic_target
from void_vfx.errors import SpecError
from void_vfx.farm.job import FarmJob
from void_vfx.farm.memory import estimate_table

SPEC_NAME = "job.json"
#: Literal timeouts (seconds): OpenJD wants them fixed in the template.
TIMEOUTS = {"Prepare": 3600, "Infer": 4 * 3600, "Assemble": 4 * 3600, "enter": 3600, "exit": 300}
#: An explicit list for up to this many windows (the spec's limit on a list), else a range.
MAX_LIST = 1024


def _action(job: FarmJob, args: list[str], timeout: int) -> dict[str, Any]:
    return {
        "command": "{{Param.VoidVfx}}",
        "args": args,
        "timeout": timeout,
        "cancelation": {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": 30},
    }


def _parameters(job: FarmJob) -> list[dict[str, Any]]:
    return [
        {
            "name": "JobSpec",
            "type": "PATH",
            "objectType": "FILE",
            "dataFlow": "IN",
            "default": SPEC_NAME,
            "description": "The void-vfx job spec (JSON)",
            "userInterface": {"control": "CHOOSE_INPUT_FILE", "label": "Job spec"},
        },
        {
            "name": "JobDir",
            "type": "PATH",
            "objectType": "DIRECTORY",
            "dataFlow": "INOUT",
            "description": "Job folder every worker reaches: window plan and committed windows",
            "userInterface": {"control": "CHOOSE_DIRECTORY", "label": "Job folder"},
        },
        {
            "name": "OutputDir",
            "type": "PATH",
            "objectType": "DIRECTORY",
            "dataFlow": "OUT",
            "description": "Folder of the output version folders (<name>_void_v###)",
            "userInterface": {"control": "CHOOSE_DIRECTORY", "label": "Output folder"},
        },
        {
            "name": "VoidVfx",
            "type": "STRING",
            "default": job.command,
            "description": "The void-vfx command on the workers",
        },
        {
            "name": "Engine",
            "type": "STRING",
            "default": job.engine,
            "description": "Engine: void, preview, or package.module:factory",
        },
        {
            "name": "Weights",
            "type": "STRING",
            "default": job.weights,
            "description": "Base model folder on the workers (empty: the Hugging Face cache)",
        },
        {
            "name": "Checkpoints",
            "type": "STRING",
            "default": job.checkpoints,
            "description": "Folder of void_pass1/void_pass2.safetensors on the workers",
        },
        {
            "name": "Raft",
            "type": "STRING",
            "default": job.raft,
            "description": "RAFT-large weights file on the workers (Pass 2)",
        },
    ]


def template(job: FarmJob) -> dict[str, Any]:
    """The job template as plain data."""
    eng = job.engine_args(
        engine="{{Param.Engine}}",
        weights="{{Param.Weights}}",
        checkpoints="{{Param.Checkpoints}}",
        raft="{{Param.Raft}}",
    )
    rules = "{{Session.PathMappingRulesFile}}"
    n = len(job.windows)
    window_range: list[int] | str = job.windows if n <= MAX_LIST else f"0-{n - 1}"
    infer: dict[str, Any] = {
        "name": "Infer",
        "description": f"One task per temporal window ({n}), each run once and committed",
        "dependencies": [{"dependsOn": "Prepare"}],
        "parameterSpace": {
            "taskParameterDefinitions": [{"name": "Window", "type": "INT", "range": window_range}]
        },
        "script": {
            "actions": {
                "onRun": _action(
                    job,
                    job.worker_args(
                        "run-window",
                        job_dir="{{Param.JobDir}}",
                        window="{{Task.Param.Window}}",
                        rules=rules,
                        engine=eng,
                    ),
                    TIMEOUTS["Infer"],
                )
            }
        },
    }
    req = job.requirement
    if req.gpus:
        infer["hostRequirements"] = {
            "amounts": [
                {"name": "amount.worker.gpu", "min": req.gpus},
                {"name": "amount.worker.gpu.memory", "min": req.gpu_mib},
            ]
        }
    if job.resident_engine:
        infer["stepEnvironments"] = [
            {
                "name": "ResidentEngine",
                "description": "Loads the model once per worker session; every window task of "
                "the session runs on it",
                "script": {
                    "actions": {
                        "onEnter": _action(
                            job,
                            job.worker_args("engine-start", job_dir="", engine=eng),
                            TIMEOUTS["enter"],
                        ),
                        "onExit": _action(
                            job, job.worker_args("engine-stop", job_dir=""), TIMEOUTS["exit"]
                        ),
                    }
                },
            }
        ]
    prepare = {
        "name": "Prepare",
        "description": "Check every frame and matte, write the window plan",
        "script": {
            "actions": {
                "onRun": _action(
                    job,
                    job.worker_args(
                        "prepare",
                        job_dir="{{Param.JobDir}}",
                        spec_file="{{Param.JobSpec}}",
                        rules=rules,
                    ),
                    TIMEOUTS["Prepare"],
                )
            }
        },
    }
    assemble = {
        "name": "Assemble",
        "description": "Paste-back and the final EXRs into the next version folder",
        "dependencies": [{"dependsOn": "Infer"}],
        "script": {
            "actions": {
                "onRun": _action(
                    job,
                    job.worker_args(
                        "assemble",
                        job_dir="{{Param.JobDir}}",
                        out_dir="{{Param.OutputDir}}",
                        rules=rules,
                    ),
                    TIMEOUTS["Assemble"],
                )
            }
        },
    }
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": job.name,
        "description": _description(job),
        "parameterDefinitions": _parameters(job),
        "steps": [prepare, infer, assemble],
    }


def _description(job: FarmJob) -> str:
    req = job.requirement
    need = f"{req.gpus} GPU with {req.gpu_mib} MiB" if req.gpus else "no GPU"
    return (
        f"VOID removal of {job.spec.plate} frames {job.first}-{job.last}: {len(job.windows)} "
        f"window(s) of up to {job.window_frames} frames, engine {job.engine}, memory mode "
        f"{job.memory_mode} ({need} per Infer task).\n"
        + estimate_table(job.window_frames, job.memory_mode)
    )


def parameter_values(job: FarmJob) -> dict[str, Any]:
    return {
        "parameterValues": [
            {"name": "JobDir", "value": job.job_dir},
            {"name": "OutputDir", "value": job.out_dir},
        ]
    }


def asset_references(job: FarmJob) -> dict[str, Any]:
    return {
        "assetReferences": {
            "inputs": {"filenames": list(job.inputs), "directories": []},
            "outputs": {"directories": [job.out_dir]},
            "referencedPaths": [],
        }
    }


def run_command(job: FarmJob, bundle: str) -> str:
    """The exact ``openjd run`` command that runs the whole bundle on this machine."""
    args = ["openjd", "run", os.path.join(os.path.abspath(bundle), "template.yaml")]
    for p in parameter_values(job)["parameterValues"]:
        args += ["-p", f"{p['name']}={p['value']}"]
    return shlex.join(args)


def _dump(data: dict[str, Any], header: str = "") -> str:
    try:
        import yaml
    except ImportError:  # JSON is YAML too; PyYAML comes with the farm extra
        body = json.dumps(data, indent=2) + "\n"
    else:

        class _Dumper(yaml.SafeDumper):
            pass

        def _text(dumper, value: str):  # multi-line text (the memory table) as a | block
            style = "|" if "\n" in value else None
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

        _Dumper.add_representer(str, _text)
        body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + body


def check_template(data: dict[str, Any], where: str = "the job template") -> str:
    """What ``openjd check`` checks, on the template as written (openjd-model's decoder):
    SpecError naming the problem, else how it was checked."""
    try:
        from openjd.model import DecodeValidationError, decode_job_template
    except ImportError:
        return "not checked: openjd-model is not installed (pip install 'void-vfx[farm]')"
    try:
        decode_job_template(template=data)
    except DecodeValidationError as exc:
        raise SpecError(
            "bundle",
            f"{where} fails openjd check: {' '.join(str(exc).split())}; this is a "
            "bug in void-vfx, report it with the spec",
        ) from None
    return "checked (openjd check)"


def check_bundle(bundle: str) -> str:
    """``openjd check`` on a written bundle's ``template.yaml``."""
    path = os.path.join(bundle, "template.yaml")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        import yaml

        data = yaml.safe_load(text)
    except ImportError:
        data = json.loads(
            "".join(line for line in text.splitlines(True) if not line.startswith("#"))
        )
    return check_template(data, path)


def write_bundle(job: FarmJob, bundle: str) -> dict[str, str]:
    """Write the bundle into the folder ``bundle`` (new, or empty) and check it as
    ``openjd check`` does; return its files. A bundle that fails the check is removed."""
    bundle = os.path.abspath(bundle)
    if os.path.isdir(bundle) and os.listdir(bundle):
        raise SpecError(
            "bundle", f"{bundle} is not empty; give a new folder for the bundle (-o NEW_FOLDER)"
        )
    check_template(template(job))  # before anything is written
    made = not os.path.isdir(bundle)
    os.makedirs(bundle, exist_ok=True)
    header = (
        f"void-vfx job bundle for {job.spec.plate}\n"
        f"Run it here:   {run_command(job, bundle)}\n"
        f"Submit it:     deadline bundle submit {shlex.quote(bundle)}\n\n"
        + estimate_table(job.window_frames, job.memory_mode)
    )
    files = {
        SPEC_NAME: job.spec.to_json() + "\n",
        "template.yaml": _dump(template(job), header),
        "parameter_values.yaml": _dump(parameter_values(job)),
        "asset_references.yaml": _dump(asset_references(job)),
    }
    out = {}
    try:
        for name, text in files.items():
            path = os.path.join(bundle, name)
            with atomic_target(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            out[name] = path
        check_bundle(bundle)
    except BaseException:
        for path in out.values():
            with contextlib.suppress(OSError):
                os.remove(path)
        if made:
            with contextlib.suppress(OSError):
                os.rmdir(bundle)
        raise
    return out
