"""The exit codes of every ``amlplatform`` command, in one table (pure: no imports).

The command line (``amlplatform.cli``) exits with these; the local run backend records the same
values in a run record's ``exit_code`` (the code ``amlplatform submit`` exits with), so the runtime
shim reads them from here too, never from ``cli``.

A local command job that fails passes its own exit code through (1-255); every other outcome is a
row of this table.
"""

EXIT_OK = 0
EXIT_FAILED = 1         # the command ran and found a failure (scan findings, a failed job, a stale schema)
EXIT_USAGE = 2          # bad input: arguments, settings, files, server answers (argparse uses 2 too)
EXIT_REPLACEMENTS = 3   # plan --diff --fail-on-replace: a resource would be replaced
EXIT_TIMEOUT = 124      # a run's limits.timeout ran out, like timeout(1)
EXIT_INTERRUPTED = 130  # canceled: Ctrl-C (128 + SIGINT), SIGTERM, SIGHUP, or a canceled job

# (code, meaning) in order, for help texts and documentation.
TABLE = (
    (EXIT_OK, "success (a run Completed; submitted with --no-wait; a dry run)"),
    (EXIT_FAILED, "the command ran and found a failure: scan findings, a failed or otherwise ended job, "
                  "a stale schema (a failed local command passes its own code through instead)"),
    (EXIT_USAGE, "bad input: arguments, settings, files, answers of a server"),
    (EXIT_REPLACEMENTS, "plan --diff --fail-on-replace: a resource would be replaced"),
    (EXIT_TIMEOUT, "a run timed out (limits.timeout)"),
    (EXIT_INTERRUPTED, "interrupted or canceled (Ctrl-C, SIGTERM, SIGHUP, a canceled job)"),
)


def for_run_status(status, exit_code=None, reason=None):
    """The exit code for a run that ended with ``status``.

    Completed 0; Canceled 130, or 124 when it was a timeout (``reason`` starts with "timed out");
    any other end (Failed, NotResponding, Paused) the run's own ``exit_code`` when it is 1-255
    (a local command's), else 1."""
    if status == "Completed":
        return EXIT_OK
    if status == "Canceled":
        return EXIT_TIMEOUT if str(reason or "").startswith("timed out") else EXIT_INTERRUPTED
    if isinstance(exit_code, int) and not isinstance(exit_code, bool) and 0 < exit_code < 256:
        return exit_code
    return EXIT_FAILED
