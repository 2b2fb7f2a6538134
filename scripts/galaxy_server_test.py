"""Run every q2-mgm Galaxy tool's test inside a real Galaxy server.

    python3 scripts/galaxy_server_test.py GALAXY_VENV QIIME2_VENV TOOLS WORKDIR
        [--jobs N] [--only ACTION ...] [--break ACTION]

GALAXY_VENV holds Galaxy (scripts/galaxy_install.sh), QIIME2_VENV the
QIIME 2 environment with q2-mgm whose ``q2galaxy`` the jobs call (through a
wrapper on the server's PATH), TOOLS the tool folder q2galaxy wrote
(scripts/galaxy_tools.sh). In WORKDIR (emptied first) the script writes a
Galaxy configuration that makes no outside traffic (sqlite, local job
runner, no conda, no containers, no Celery, no data-table download),
starts ``galaxy-web`` on 127.0.0.1 (up to three tries), runs the tools'
tests with Galaxy's ``galaxy-tool-test`` (N jobs at once), checks each
output a test declares by name (Galaxy's runner does not), prints one line
per test (tool, test, passed, seconds), stops the server by its PID and
exits non-zero if any test failed or errored. Where user namespaces allow
it, everything runs in a network namespace with only a loopback device, so
nothing can leave 127.0.0.1.

--only tests those actions alone; --break renames an output of that
action's tool (the server's copy) to show that a broken tool fails.
"""
import argparse
import errno
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

ADMIN_KEY = "q2-mgm-galaxy-test-admin-key"
START_TRIES = 3
START_TIMEOUT = 600     # seconds for one server start
TEST_TIMEOUT = 1800     # seconds galaxy-tool-test waits for one job
RUN_TIMEOUT = 3 * 3600  # seconds for all the tests
STOP_TIMEOUT = 60
ISOLATED = "Q2_MGM_GALAXY_ISOLATED"


def isolate():
    """Re-run this script in its own network namespace (only loopback) and
    process namespace (whatever the server leaves behind ends with it),
    where the system allows it; says which."""
    if os.environ.get(ISOLATED):
        return
    unshare = ["unshare", "--map-current-user", "--net", "--pid", "--fork",
               "--kill-child", "--mount-proc", "--"]
    if shutil.which("unshare") and shutil.which("ip") and subprocess.run(
            unshare + ["true"], capture_output=True).returncode == 0:
        os.environ[ISOLATED] = "1"
        os.execvp("unshare", unshare + [
            "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
            sys.executable, *sys.argv])
    print("WARNING: no network namespace here (unshare or ip missing, or "
          "user namespaces off); relying on Galaxy's settings alone",
          flush=True)


def outside_unreachable():
    """True where no route leaves this machine (the namespace works)."""
    with socket.socket() as sock:
        sock.settimeout(5)
        try:
            sock.connect(("192.0.2.1", 80))    # TEST-NET-1: never answers
        except OSError as error:
            return error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
    return False


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def galaxy_config(work, tool_conf, jobs):
    data = work / "data"
    return {"galaxy": {
        "data_dir": str(data),
        "database_connection":
            f"sqlite:///{data}/universe.sqlite?isolation_level=IMMEDIATE",
        "tool_config_file": str(tool_conf),
        "tool_data_table_config_path": str(work / "tool_data_tables.xml"),
        "tool_dependency_dir": "none",
        "conda_auto_init": False,
        "conda_auto_install": False,
        "container_resolvers": [],
        "enable_mulled_containers": False,
        "involucro_auto_init": False,
        "enable_celery_tasks": False,
        "watch_tools": "false",
        "bootstrap_admin_api_key": ADMIN_KEY,
        "admin_users": "admin@q2-mgm.test",
        "cleanup_job": "onsuccess",
        "job_config": {
            "runners": {"local": {
                "load": "galaxy.jobs.runners.local:LocalJobRunner",
                "workers": jobs}},
            "execution": {"default": "local",
                          "environments": {"local": {"runner": "local"}}}},
    }}


def prepare(args, work):
    """The server's configuration, its copy of the tools and the q2galaxy
    wrapper; returns the configuration file."""
    shutil.rmtree(work, ignore_errors=True)
    tools = work / "tools"
    shutil.copytree(args.tools, tools)
    if args.break_action:
        break_tool(tools, args.break_action)
    entries = "".join(f'  <tool file="{xml}"/>\n'
                      for xml in sorted(tools.glob("*.xml"))
                      if not args.only or action_of(xml) in args.only)
    tool_conf = work / "tool_conf.xml"
    tool_conf.write_text(f'<toolbox>\n<section id="mgm" name="q2-mgm">\n'
                         f'{entries}</section>\n</toolbox>\n')
    (work / "tool_data_tables.xml").write_text("<tables/>\n")
    wrapper = work / "bin" / "q2galaxy"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\nexec "
                       f'"{args.qiime2_venv.resolve()}/bin/q2galaxy" "$@"\n')
    wrapper.chmod(0o755)
    config = work / "galaxy.yml"
    # JSON is YAML: no YAML writer needed here.
    config.write_text(json.dumps(
        galaxy_config(work, tool_conf, args.jobs), indent=1))
    return config


def action_of(xml):
    return xml.stem.split("__")[-1]


def break_tool(tools, action):
    """Rename the first output of ACTION's tool: its test must now fail."""
    xml = tools / f"qiime2__mgm__{action}.xml"
    tree = ET.parse(xml)
    data = tree.getroot().find("outputs/data")
    print(f"BROKEN on purpose: {xml.name} output {data.get('name')!r} "
          f"renamed {data.get('name') + '_renamed'!r}", flush=True)
    data.set("name", data.get("name") + "_renamed")
    tree.write(xml)


class Server:
    """galaxy-web on 127.0.0.1, started in its own session and stopped by
    its PID."""

    def __init__(self, galaxy_venv, config, work):
        self.galaxy_venv, self.config, self.work = galaxy_venv, config, work
        self.process = None
        self.url = None

    def start(self):
        for attempt in range(1, START_TRIES + 1):
            started = time.monotonic()
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            log = open(self.work / f"server-{attempt}.log", "w")
            env = {**os.environ,
                   "PATH": f"{self.work / 'bin'}:{os.environ['PATH']}",
                   "GALAXY_CONFIG_FILE": str(self.config)}
            self.process = subprocess.Popen(
                [self.galaxy_venv / "bin" / "galaxy-web", "-c", self.config,
                 "-b", f"127.0.0.1:{port}"], cwd=self.work, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            print(f"server: try {attempt}, PID {self.process.pid}, "
                  f"{self.url}", flush=True)
            if self.wait_ready(started):
                seconds = time.monotonic() - started
                print(f"server: ready in {seconds:.0f} s", flush=True)
                return seconds
            self.stop()
            print(f"server: not ready; last lines of its log:\n"
                  + tail(self.work / f"server-{attempt}.log"), flush=True)
        raise SystemExit(f"Galaxy did not start in {START_TRIES} tries")

    def wait_ready(self, started):
        while time.monotonic() - started < START_TIMEOUT:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/api/version",
                                            timeout=10) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(3)
        return False

    def get(self, path):
        request = urllib.request.Request(f"{self.url}{path}",
                                         headers={"x-api-key": ADMIN_KEY})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        print(f"server: PID {self.process.pid} stopped "
              f"(exit {self.process.returncode})", flush=True)


def tail(path, lines=40):
    return "\n".join(Path(path).read_text(errors="replace")
                     .splitlines()[-lines:])


def run_tests(galaxy_venv, server, work, jobs):
    """galaxy-tool-test on every tool the server has; returns its report."""
    report = work / "tool_test_output.json"
    command = [galaxy_venv / "bin" / "galaxy-tool-test",
               "--galaxy-url", server.url, "--admin-key", ADMIN_KEY,
               "--parallel-tests", str(jobs), "--output-json", report,
               "--output", work / "test-outputs"]
    print("+", " ".join(map(str, command)), flush=True)
    env = {**os.environ, "GALAXY_TEST_DEFAULT_WAIT": str(TEST_TIMEOUT)}
    try:
        subprocess.run(list(map(str, command)), env=env, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"galaxy-tool-test stopped after {RUN_TIMEOUT} s", flush=True)
        return None
    return json.loads(report.read_text()) if report.exists() else None


def check_outputs(server, report, tools):
    """Galaxy's runner falls back on an output's position where the test's
    name is not the tool's, so a renamed output passes it. Check each
    output a test declares by name: the job made it, it is non-empty and of
    the declared datatype. A test with a problem becomes a failure."""
    declared = {}
    for xml in tools.glob("*.xml"):
        tool = ET.parse(xml).getroot()
        for index, test in enumerate(tool.findall("tests/test")):
            declared[tool.get("id"), index] = {
                output.get("name"): output.get("ftype")
                for output in test.findall("output")}
    for test in report["tests"]:
        data = test["data"]
        if data.get("status") != "success":
            continue
        made = data["job"]["outputs"]
        problems = []
        for name, ftype in declared[data["tool_id"],
                                    data["test_index"]].items():
            if name not in made:
                problems.append(f"the job made no output {name!r} "
                                f"(it made {sorted(made)})")
                continue
            dataset = server.get(f"/api/datasets/{made[name]['id']}")
            if dataset["state"] != "ok" or not dataset.get("file_size") \
                    or dataset["extension"] != (ftype or
                                                dataset["extension"]):
                problems.append(
                    f"output {name!r}: state {dataset['state']}, "
                    f"{dataset.get('file_size')} bytes, "
                    f"{dataset['extension']} (the test expects {ftype})")
        if problems:
            data["status"] = "failure"
            data["problems"] = problems


def summarise(report, expected):
    """One line per test; True when all ``expected`` tests ran and passed."""
    rows = sorted((test["data"].get("tool_id", test["id"]),
                   test["data"].get("test_index", "?"),
                   test["data"].get("status", "error"),
                   test["data"].get("time_seconds"))
                  for test in report["tests"])
    width = max([len("tool")] + [len(row[0]) for row in rows])
    print(f"\n{'tool':<{width}}  test  {'passed':<14}  seconds")
    for tool, index, status, seconds in rows:
        passed = "yes" if status == "success" else f"NO ({status})"
        seconds = "-" if seconds is None else f"{seconds:.0f}"
        print(f"{tool:<{width}}  {index!s:>4}  {passed:<14}  {seconds:>7}")
    for test in report["tests"]:
        for problem in test["data"].get("problems", []):
            print(f"{test['data']['tool_id']} test "
                  f"{test['data']['test_index']}: {problem}")
    passed = sum(row[2] == "success" for row in rows)
    print(f"{passed} of {expected} tests passed ({len(rows)} ran)")
    return passed == expected == len(rows)


def expected_tests(tools, only):
    return sum(len(ET.parse(x).getroot().findall("tests/test"))
               for x in tools.glob("*.xml")
               if not only or action_of(x) in only)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("galaxy_venv", type=Path)
    parser.add_argument("qiime2_venv", type=Path)
    parser.add_argument("tools", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--break", dest="break_action")
    args = parser.parse_args()
    isolate()
    # A timeout's SIGTERM stops the server too (and reaches a namespace's
    # first process only through a handler).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    if os.environ.get(ISOLATED):
        print("network: own namespace, loopback only (and own process "
              "namespace); outside unreachable: "
              f"{'yes' if outside_unreachable() else 'NO'}", flush=True)
    work = args.workdir.resolve()
    config = prepare(args, work)
    expected = expected_tests(work / "tools", args.only)
    started = time.monotonic()
    server = Server(args.galaxy_venv.resolve(), config, work)
    try:
        server.start()
        report = run_tests(args.galaxy_venv.resolve(), server, work,
                           args.jobs)
        if report is not None:
            check_outputs(server, report, work / "tools")
    finally:
        server.stop()
    if report is None:
        raise SystemExit("galaxy-tool-test wrote no report")
    passed = summarise(report, expected)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"total: {time.monotonic() - started:.0f} s (server start, tests "
          f"and stop; {args.jobs} jobs at once); CPU time of the server, "
          f"its jobs and the test runner: {used.ru_utime + used.ru_stime:.0f} s")
    sys.exit(0 if passed and expected else 1)


if __name__ == "__main__":
    main()
