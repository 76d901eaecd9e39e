"""The job spec is parsed once per process boundary: once by the client before it is sent,
once by the server when it is submitted, once by the worker when the job runs."""

from __future__ import annotations

import threading

import pytest
from _server_fakes import make_shot, start_server

from void_vfx.client import connect
from void_vfx.job.spec import JobSpec


@pytest.mark.parametrize("mode", ["path", "stream"])
def test_a_spec_is_parsed_once_by_each_side(tmp_path, monkeypatch, mode):
    parsed: list[str] = []
    real = JobSpec.from_dict.__func__

    def counted(cls, data):
        parsed.append(threading.current_thread().name)
        return real(cls, data)

    srv = start_server(tmp_path)
    try:
        spec = make_shot(tmp_path, frames=2, size=1000)
        monkeypatch.setattr(JobSpec, "from_dict", classmethod(counted))
        with connect("127.0.0.1", srv.port, token=srv.token) as c:
            job = c.submit(spec, files_mode=mode)
            status = c.follow(job, callback=lambda s, e: None, poll_s=0.05)
    finally:
        srv.close()
    assert status["state"] == "done", status
    main = threading.current_thread().name
    # the client (this thread), the server's connection thread, the worker: one parse each
    assert len(parsed) == 3 and parsed[0] == main, parsed
    assert parsed[2] == "void-vfx-worker" and parsed[1] not in (main, parsed[2]), parsed
