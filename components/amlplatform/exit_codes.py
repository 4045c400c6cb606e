"""The exit codes of every ``amlplatform`` command, in one table (pure: no imports).

The command line (``amlplatform.cli``, which re-exports these names) exits with them; the local
run backend records the same values in a run record's ``exit_code`` (the code ``amlplatform
submit`` exits with), so the runtime shim reads them from here, never from ``cli``.
"""

EXIT_OK = 0
EXIT_FAILED = 1        # the command ran and found a failure (scan findings, a failed job, a stale schema)
EXIT_USAGE = 2         # bad input: arguments, settings, files, server answers (argparse uses 2 too)
EXIT_REPLACEMENT = 3   # plan --diff --fail-on-replace: the change would replace a resource
EXIT_TIMEOUT = 124     # a run's limits.timeout ended it, like timeout(1)
EXIT_INTERRUPTED = 130  # 128 + SIGINT: interrupted (Ctrl-C, SIGTERM, SIGHUP) or canceled

EXIT_CODES = {
    EXIT_OK: "success: done as asked; a scan found no failure; a run Completed (or was submitted with "
             "--no-wait, or a dry run)",
    EXIT_FAILED: "a failure found: scan FAILED findings or a count mismatch; `schema --check`: stale; "
                 "a run Failed (on Azure also NotResponding, Paused)",
    EXIT_USAGE: "bad input: arguments, settings, stack or job files, a file that cannot be read or written, "
                "an error answer from Azure",
    EXIT_REPLACEMENT: "`plan --diff FILE --fail-on-replace`: the change would replace a resource",
    EXIT_TIMEOUT: "a run's limits.timeout ended it (recorded Canceled, \"timed out\")",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C, SIGTERM, SIGHUP) or canceled: a run recorded Canceled",
}
# A local command job that fails passes its own exit code (1-255) through `submit`.
PASSED_THROUGH = "a local run's command failed with that code: `submit` exits with it"
