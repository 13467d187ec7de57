# SPDX-License-Identifier: MIT
"""pytest glue of the confabd integration tests: server fixtures, async tests, logs on failure.

Environment: CONFABD (binary, default build/confabd), CONFAB_VALGRIND=1 (run it under
valgrind and require a clean exit).
"""
import asyncio
import inspect
import resource

import pytest

from confabtest import VALGRIND, T, RedisServer, Server, ServerStartError

# 2,000 WebSocket clients in one process need more than 1024 descriptors; confabd inherits this.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _hard == resource.RLIM_INFINITY or _hard > _soft:
    _want = 65536 if _hard == resource.RLIM_INFINITY else _hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))
    except (ValueError, OSError):
        pass

DEFAULT_DEADLINE = 30


def pytest_configure(config):
    config.addinivalue_line("markers", "conf(overrides): confab.conf overrides for the `server` "
                            "fixture, {(section, key): value}")
    config.addinivalue_line("markers", "deadline(seconds): time limit of an async test "
                            "(scaled under valgrind)")
    config.addinivalue_line("markers", "slow: a load test (deselect with -m 'not slow')")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Runs `async def` tests in a fresh event loop, bounded by their deadline."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    m = pyfuncitem.get_closest_marker("deadline")
    deadline = T(m.args[0] if m else DEFAULT_DEADLINE)
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}

    async def bounded():
        try:
            return await asyncio.wait_for(pyfuncitem.obj(**args), deadline)
        except asyncio.TimeoutError:
            raise AssertionError(f"test did not finish within its deadline of {deadline:.0f} s")

    asyncio.run(bounded())
    return True


def _servers_of(item):
    out = list(getattr(item, "_confab_servers", []))
    mod = item.getparent(pytest.Module)
    if mod is not None:
        out += getattr(mod, "_confab_servers", [])
    return out


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, s in enumerate(_servers_of(item)):
            rep.sections.append((f"confabd #{i} stderr (port {s.port}, pid "
                                 f"{s.proc.pid if s.proc else '-'})", s.log_text()))
        # Logs of other processes a test ran: [(title, function returning the text)].
        for title, text in getattr(item, "_extra_logs", []):
            rep.sections.append((title, text()))


def _finish(servers, check_exit=True):
    """Stops servers; fails if one crashed during the test or did not exit 0 on SIGTERM."""
    problems = []
    for s in servers:
        was_alive = s.alive() or s.stopped or s.terminated
        died_code = None if was_alive else s.proc.poll()
        code = s.stop()
        if not was_alive:
            problems.append(f"confabd (pid {s.proc.pid}) died during the test with exit code "
                            f"{died_code}")
        elif check_exit and code != 0:
            what = "valgrind found errors or leaks (exit 99)" if code == 99 else f"exit {code}"
            problems.append(f"confabd (pid {s.proc.pid}) did not exit cleanly on SIGTERM: {what}")
        elif VALGRIND and s.fd_leaks():
            problems.append(f"confabd (pid {s.proc.pid}) left descriptors open at exit:\n" +
                            "\n".join(s.fd_leaks()))
    return problems


@pytest.fixture
def start_server(request):
    """Factory: start_server(overrides=None, args=(), env=None, www_dir=...) -> running Server."""
    servers = []
    request.node._confab_servers = servers

    def start(overrides=None, args=(), env=None, **kw):
        s = Server(overrides, args=args, env=env, **kw)
        servers.append(s)
        try:
            s.start()
        except ServerStartError as e:
            pytest.fail(f"confabd did not start: {e}\n--- stderr ---\n{s.log_text()}")
        return s

    yield start
    problems = _finish(servers)
    for s in servers:
        if not problems:
            s.cleanup()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def server(request, start_server):
    """A server with the overrides of the test's @pytest.mark.conf({...})."""
    m = request.node.get_closest_marker("conf")
    overrides = m.args[0] if m else {}
    return start_server(overrides)


@pytest.fixture(scope="module")
def shared_server(request):
    """One server for a whole module of tests that change no config (each uses its own rooms)."""
    m = getattr(request.module, "SHARED_CONF", {})
    s = Server(m)
    request.node._confab_servers = [s]
    try:
        s.start()
    except ServerStartError as e:
        pytest.fail(f"confabd did not start: {e}\n--- stderr ---\n{s.log_text()}")
    yield s
    problems = _finish([s])
    if not problems:
        s.cleanup()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def redis_factory(request):
    """Factory: redis_factory(password=None, appendonly=False, extra=(), port=None) -> a
    running RedisServer, killed at the end of the test."""
    started = []

    def make(**kw):
        r = RedisServer(**kw)
        started.append(r)
        return r.start()

    yield make
    for r in started:
        r.cleanup()


@pytest.fixture
def redis(redis_factory):
    return redis_factory()
